-- walbridge.create_node(): one name per database, usable in topic and
-- origin names.
SELECT walbridge.create_node('bad name!');
SELECT walbridge.create_node('');
SELECT walbridge.create_node('node-a.1');
SELECT name FROM walbridge.node;
SELECT walbridge.create_node('node-b');
DELETE FROM walbridge.node;
