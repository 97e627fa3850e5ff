DROP TABLE tags;
DROP TABLE key_pairs;
DROP TABLE image_launch_permissions;
DROP TABLE images;
DROP TABLE gateway_secrets;
