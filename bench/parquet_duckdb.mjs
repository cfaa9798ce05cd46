// DuckDB writing (and reading) a keypairs-like table of N rows: the table is built in memory
// first, only COPY ... TO (FORMAT parquet, ZSTD) and a full scan are timed.
// usage: node parquet_duckdb.mjs ROWS OUT.parquet THREADS
import { DuckDBInstance } from '@duckdb/node-api';
const [rows, out, threads] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4] || 1)];
const db = await DuckDBInstance.create(':memory:', { threads: String(threads) });
const c = await db.connect();
await c.run(`CREATE TABLE kp AS SELECT
  md5((r // 50000 % 200)::VARCHAR) AS user_id, 1 + r % 3 AS platform_id, 1 + r // 7 % 3 AS video_id,
  1 + r // 1000 % 2 AS session_id, r % 50000 AS sequence_id,
  (['a','b','c','d','e','Key.space','Key.shift','t','h','o','n','s','i','r','Key.backspace'])[(1 + hash(r) % 15)::BIGINT] AS key1,
  (['a','b','c','d','e','Key.space','Key.shift','t','h','o','n','s','i','r','Key.backspace'])[(1 + hash(r+1) % 15)::BIGINT] AS key2,
  1735660000000.0::DOUBLE + r * 150.0 + hash(r) % 97 AS key1_press,
  CASE WHEN hash(r) % 100 = 0 THEN NULL ELSE 1735660000080.0::DOUBLE + r * 150.0 + hash(r) % 60 END AS key1_release,
  1735660000150.0::DOUBLE + r * 150.0 AS key2_press, 1735660000240.0::DOUBLE + r * 150.0 + hash(r) % 40 AS key2_release,
  CASE WHEN hash(r) % 100 = 0 THEN NULL ELSE (80 + hash(r) % 60)::DOUBLE END AS HL,
  CASE WHEN hash(r) % 100 = 0 THEN NULL ELSE (70 + hash(r) % 60)::DOUBLE END AS IL,
  (150 + hash(r) % 97)::DOUBLE AS PL, CASE WHEN hash(r) % 100 = 0 THEN NULL ELSE (160 + hash(r) % 50)::DOUBLE END AS RL,
  hash(r) % 100 <> 0 AS valid, CASE WHEN hash(r) % 100 = 0 THEN 'Missing key1 release' ELSE 'No error' END AS error_description,
  1735660000000.0::DOUBLE + r * 150.0 + hash(r) % 97 AS key1_timestamp, hash(r) % 37 = 0 AS outlier, 'desktop' AS device_type
  FROM range(${rows}) t(r)`);
let t0 = performance.now();
await c.run(`COPY kp TO '${out}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 65536)`);
const w = (performance.now() - t0) / 1000;
t0 = performance.now();
await c.run(`SELECT count(*), sum(length(user_id)), sum(length(key1)), sum(HL), sum(sequence_id), count(valid) FROM read_parquet('${out}')`);
const r = (performance.now() - t0) / 1000;
console.log(`write_s=${w.toFixed(3)} read_s=${r.toFixed(3)}`);
