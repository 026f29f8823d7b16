DROP TABLE key_material;
