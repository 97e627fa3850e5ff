DROP TABLE host_capacity;
DROP TABLE instance_options;
