-- sqlite_workload.sql: a deterministic, allocation-heavy sqlite3 workload
-- (run by preload_sqlite.sh with and without libgomem preloaded).
PRAGMA cache_size = -16000;
PRAGMA synchronous = OFF;
PRAGMA temp_store = MEMORY;
CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b TEXT, c REAL);
WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 60000)
INSERT INTO t
SELECT i, (i * 7919) % 1000,
       printf('%08x-%s', (i * 2654435761) % 4294967296,
              substr('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ', 1 + i % 26, 1 + i % 37)),
       (i % 1013) / 7.0
FROM s;
CREATE INDEX t_a ON t(a);
CREATE INDEX t_b ON t(b);
SELECT 'rows', count(*), sum(length(b)), total(c) FROM t;
SELECT a, count(*), sum(length(b)), printf('%.4f', avg(c)) FROM t GROUP BY a ORDER BY a LIMIT 15;
SELECT 'concat', length(group_concat(b, ',')), max(b), min(b) FROM t;
UPDATE t SET b = b || b || b WHERE id % 3 = 0;
DELETE FROM t WHERE id % 5 = 0;
SELECT 'after', count(*), sum(length(b)) FROM t;
SELECT id, b FROM t ORDER BY b DESC, id LIMIT 10 OFFSET 2500;
CREATE TABLE u AS SELECT a, group_concat(b) AS bs, count(*) AS n FROM t GROUP BY a;
SELECT 'join', count(*), sum(t.id % 97), sum(length(u.bs)) FROM t JOIN u ON u.a = t.a WHERE t.id % 11 = 0;
SELECT a, n, rnk FROM (SELECT a, n, rank() OVER (ORDER BY n DESC, a) AS rnk FROM u) WHERE rnk <= 10;
SELECT 'window', sum(x) FROM (SELECT sum(c) OVER (PARTITION BY a ORDER BY id ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) AS x FROM t WHERE id < 20000);
WITH RECURSIVE f(n, s) AS (SELECT 1, 'x' UNION ALL SELECT n + 1, s || printf('%d', n) FROM f WHERE n < 3000)
SELECT 'strings', length(s), substr(s, -20) FROM f WHERE n = 3000;
SELECT 'json', length(json_group_array(json_object('id', id, 'b', b))) FROM t WHERE id < 15000;
DROP INDEX t_b;
REINDEX;
SELECT 'distinct', count(DISTINCT substr(b, 10, 3)) FROM t;
SELECT 'integrity', * FROM pragma_integrity_check;
