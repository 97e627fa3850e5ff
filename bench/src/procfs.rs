//! What /proc says about a process: CPU seconds (/proc/PID/stat) and memory (/proc/PID/status).

/// Linux reports times in USER_HZ, which is 100 on every architecture Linux exports to
/// user space through /proc (the kernel converts).
const TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU seconds of a process and of its children it has waited for (the gateway
/// runs `qemu-img` for every instance it launches: that is its work too).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: count fields after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is fields[0]; utime, stime, cutime, cstime are fields 14..=17.
    let ticks: f64 = fields
        .get(11..15)?
        .iter()
        .map(|f| f.parse::<f64>().unwrap_or(0.0))
        .sum();
    Some(ticks / TICKS_PER_SECOND)
}

/// A `Vm...:` line of /proc/PID/status, in KiB.
pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU seconds per `postgres` process whose command line (its title, for a backend) contains
/// `needle`: the backends serving one database.
pub fn matching_cpu(needle: &str) -> std::collections::HashMap<u32, f64> {
    let mut out = std::collections::HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let is_postgres = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|comm| comm.trim() == "postgres");
        if !is_postgres {
            continue;
        }
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            if let Some(cpu) = cpu_seconds(pid) {
                out.insert(pid, cpu);
            }
        }
    }
    out
}

/// A process's CPU, or the summed CPU of matching processes, sampled twice.
pub struct CpuProbe {
    pid: Option<u32>,
    needle: Option<String>,
    start_pid: Option<f64>,
    start_matching: std::collections::HashMap<u32, f64>,
}

impl CpuProbe {
    pub fn start(pid: Option<u32>, needle: Option<String>) -> CpuProbe {
        CpuProbe {
            start_pid: pid.and_then(cpu_seconds),
            start_matching: needle.as_deref().map(matching_cpu).unwrap_or_default(),
            pid,
            needle,
        }
    }

    /// (CPU seconds of the process, CPU seconds of the matching processes) since `start`.
    pub fn stop(&self) -> (Option<f64>, Option<f64>) {
        let own = match (self.pid.and_then(cpu_seconds), self.start_pid) {
            (Some(end), Some(start)) => Some(end - start),
            _ => None,
        };
        let matching = self.needle.as_deref().map(|needle| {
            matching_cpu(needle)
                .iter()
                .map(|(pid, end)| end - self.start_matching.get(pid).copied().unwrap_or(0.0))
                .sum()
        });
        (own, matching)
    }
}
