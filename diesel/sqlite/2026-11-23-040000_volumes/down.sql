DROP TABLE volumes;
