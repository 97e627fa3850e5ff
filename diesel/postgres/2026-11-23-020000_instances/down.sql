DROP TABLE instances;
DROP TABLE reservations;
