-- VPC networking as rows: VPCs, subnets, internet gateways, route tables and their routes and
-- associations, security groups (their rules come later), network interfaces with their
-- addresses and groups, and public addresses (Elastic IPs and auto-assigned ones). The host
-- network (namespaces, bridges, DHCP, NAT) is built from these rows by the reconciler.
-- States: a VPC or subnet is `pending` until its host network is built, then `available`.

-- Settings of this database shared by every gateway on it: `deployment` names the host
-- network objects (namespaces, bridges) this database owns.
CREATE TABLE gateway_settings (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- An instance's VPC, as its subnet's at launch (kept, as the subnet id is, after the subnet
-- is gone); NULL for instances from before VPCs were rows (their subnet's VPC is looked up).
ALTER TABLE instances ADD COLUMN vpc_id TEXT;

-- Whether the account's default VPC was made (once: a deleted default VPC stays deleted until
-- CreateDefaultVpc, as on EC2).
ALTER TABLE accounts ADD COLUMN default_vpc_made BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE vpcs (
    vpc_id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    cidr_block TEXT NOT NULL,
    cidr_association_id TEXT NOT NULL,
    is_default BOOLEAN NOT NULL,
    state TEXT NOT NULL,
    instance_tenancy TEXT NOT NULL,
    enable_dns_support BOOLEAN NOT NULL,
    enable_dns_hostnames BOOLEAN NOT NULL,
    enable_nau_metrics BOOLEAN NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX vpcs_by_account ON vpcs (account_id, vpc_id);

CREATE TABLE subnets (
    subnet_id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    vpc_id TEXT NOT NULL REFERENCES vpcs (vpc_id),
    cidr_block TEXT NOT NULL,
    availability_zone TEXT NOT NULL,
    state TEXT NOT NULL,
    default_for_az BOOLEAN NOT NULL,
    map_public_ip_on_launch BOOLEAN NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX subnets_by_account ON subnets (account_id, subnet_id);
CREATE INDEX subnets_by_vpc ON subnets (vpc_id);

CREATE TABLE internet_gateways (
    gateway_id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    vpc_id TEXT REFERENCES vpcs (vpc_id),
    created_at TEXT NOT NULL
);
CREATE INDEX internet_gateways_by_account ON internet_gateways (account_id, gateway_id);
CREATE UNIQUE INDEX internet_gateways_by_vpc ON internet_gateways (vpc_id);

-- A VPC's main route table carries its main association's id.
CREATE TABLE route_tables (
    route_table_id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    vpc_id TEXT NOT NULL REFERENCES vpcs (vpc_id),
    main_association_id TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX route_tables_by_account ON route_tables (account_id, route_table_id);
CREATE INDEX route_tables_by_vpc ON route_tables (vpc_id);

-- A route's target is one of: `local`, an internet gateway, a network interface (an instance
-- target is stored as its primary interface, with the instance id kept for display).
CREATE TABLE routes (
    route_table_id TEXT NOT NULL REFERENCES route_tables (route_table_id) ON DELETE CASCADE,
    destination TEXT NOT NULL,
    gateway_id TEXT,
    network_interface_id TEXT,
    instance_id TEXT,
    origin TEXT NOT NULL,
    PRIMARY KEY (route_table_id, destination)
);

CREATE TABLE route_table_associations (
    association_id TEXT PRIMARY KEY NOT NULL,
    route_table_id TEXT NOT NULL REFERENCES route_tables (route_table_id),
    subnet_id TEXT NOT NULL REFERENCES subnets (subnet_id)
);
CREATE UNIQUE INDEX route_table_associations_by_subnet ON route_table_associations (subnet_id);
CREATE INDEX route_table_associations_by_table ON route_table_associations (route_table_id);

CREATE TABLE security_groups (
    group_id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    vpc_id TEXT NOT NULL REFERENCES vpcs (vpc_id),
    group_name TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX security_groups_by_name ON security_groups (vpc_id, group_name);
CREATE INDEX security_groups_by_account ON security_groups (account_id, group_id);

-- Attachment columns are all NULL while the interface is detached (`available`).
CREATE TABLE network_interfaces (
    interface_id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    vpc_id TEXT NOT NULL REFERENCES vpcs (vpc_id),
    subnet_id TEXT NOT NULL REFERENCES subnets (subnet_id),
    availability_zone TEXT NOT NULL,
    mac_address TEXT NOT NULL,
    description TEXT NOT NULL,
    source_dest_check BOOLEAN NOT NULL,
    interface_type TEXT NOT NULL,
    created_at TEXT NOT NULL,
    instance_id TEXT,
    device_index INTEGER,
    attachment_id TEXT,
    attach_time TEXT,
    attachment_status TEXT,
    delete_on_termination BOOLEAN NOT NULL
);
CREATE UNIQUE INDEX network_interfaces_by_mac ON network_interfaces (mac_address);
CREATE INDEX network_interfaces_by_account ON network_interfaces (account_id, interface_id);
CREATE INDEX network_interfaces_by_vpc ON network_interfaces (vpc_id);
CREATE INDEX network_interfaces_by_instance ON network_interfaces (instance_id);

-- Private addresses: unique in their subnet.
CREATE TABLE interface_addresses (
    interface_id TEXT NOT NULL REFERENCES network_interfaces (interface_id) ON DELETE CASCADE,
    private_ip TEXT NOT NULL,
    subnet_id TEXT NOT NULL,
    is_primary BOOLEAN NOT NULL,
    PRIMARY KEY (interface_id, private_ip)
);
CREATE UNIQUE INDEX interface_addresses_in_subnet ON interface_addresses (subnet_id, private_ip);

CREATE TABLE interface_security_groups (
    interface_id TEXT NOT NULL REFERENCES network_interfaces (interface_id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    group_id TEXT NOT NULL,
    PRIMARY KEY (interface_id, position)
);
CREATE INDEX interface_security_groups_by_group ON interface_security_groups (group_id);

-- Public addresses of the pool in use: an Elastic IP has an allocation id; an address given at
-- launch (MapPublicIpOnLaunch, AssociatePublicIpAddress) has none and goes with its interface.
CREATE TABLE public_addresses (
    public_ip TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (account_id),
    allocation_id TEXT,
    association_id TEXT,
    interface_id TEXT,
    private_ip TEXT,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX public_addresses_by_allocation ON public_addresses (allocation_id);
CREATE INDEX public_addresses_by_account ON public_addresses (account_id);
CREATE INDEX public_addresses_by_interface ON public_addresses (interface_id);
