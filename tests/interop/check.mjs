// Checks Parquet files keyetl wrote against their CSV twins with independent readers:
// DuckDB (@duckdb/node-api) and hyparquet (+ hyparquet-compressors for ZSTD), each for
// every file. Checks column names and types, row count, null counts, every value.
// usage: node check.mjs DIR   → prints PASS/FAIL lines
import { readFileSync, readdirSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetReadObjects, parquetMetadata } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';

function parseCsv(text) { // RFC 4180; returns {rows, quoted}: quoted marks fields that were quoted
  const rows = []; let row = [], f = '', q = false, wasQ = false, i = 0;
  const push = () => { row.push(wasQ ? { v: f } : (f === '' ? null : { v: f })); f = ''; wasQ = false; };
  while (i < text.length) {
    const c = text[i];
    if (q) {
      if (c === '"') { if (text[i + 1] === '"') { f += '"'; i += 2; continue; } q = false; i++; continue; }
      f += c; i++; continue;
    }
    if (c === '"') { q = true; wasQ = true; i++; continue; }
    if (c === ',') { push(); i++; continue; }
    if (c === '\n') { push(); rows.push(row); row = []; i++; continue; }
    f += c; i++;
  }
  return rows.map(r => r.map(x => (x === null ? null : x.v)));
}

const want = { VARCHAR: 'string', BIGINT: 'int64', DOUBLE: 'double', BOOLEAN: 'bool' };
function same(kind, csv, v) {
  if (csv === null || v === null || v === undefined) return csv === null && (v === null || v === undefined);
  if (kind === 'int64') return BigInt(csv) === BigInt(v);
  if (kind === 'double') return Object.is(Number(csv), Number(v));
  if (kind === 'bool') return (csv === 'True') === (v === true) && (csv === 'True' || csv === 'False');
  return csv === String(v);
}

let failures = 0;
const report = (ok, name, why) => { if (ok) console.log(`PASS ${name}`); else { failures++; console.log(`FAIL ${name}: ${why}`); } };

const dir = process.argv[2];
const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
for (const f of readdirSync(dir).filter(x => x.endsWith('.parquet')).sort()) {
  const base = f.replace(/\.parquet$/, '');
  const pq = `${dir}/${f}`;
  const csv = parseCsv(readFileSync(`${dir}/${base}.csv`, 'utf8'));
  const header = csv[0], body = csv.slice(1);
  // DuckDB: schema, rows, values, null counts from the footer statistics
  try {
    const res = await conn.runAndReadAll(`SELECT * FROM read_parquet('${pq}')`);
    const names = res.columnNames(), types = res.columnTypes().map(t => t.toString());
    const rows = res.getRows();
    let why = '';
    if (JSON.stringify(names) !== JSON.stringify(header)) why = `names ${names} vs ${header}`;
    if (!why && rows.length !== body.length) why = `rows ${rows.length} vs ${body.length}`;
    const kinds = types.map(t => want[t]);
    if (!why && kinds.some(k => !k)) why = `unexpected types ${types}`;
    for (let i = 0; !why && i < rows.length; i++)
      for (let j = 0; j < names.length; j++)
        if (!same(kinds[j], body[i][j], rows[i][j])) { why = `row ${i} col ${names[j]}: ${JSON.stringify(body[i][j])} vs ${String(rows[i][j])}`; break; }
    if (!why) {
      const meta = (await conn.runAndReadAll(`SELECT path_in_schema, sum(stats_null_count)::BIGINT FROM parquet_metadata('${pq}') GROUP BY 1`)).getRows();
      for (const [col, nulls] of meta) {
        const j = header.indexOf(col);
        const expect = body.filter(r => r[j] === null).length;
        if (Number(nulls) !== expect) { why = `null count of ${col}: ${nulls} vs ${expect}`; break; }
      }
      const kv = (await conn.runAndReadAll(`SELECT decode(key), decode(value) FROM parquet_kv_metadata('${pq}')`)).getRows();
      // Sample tables are named after their file; pipeline tables (CHECK_ANY_TABLE=1) carry
      // their own table name, which must just be present and non-empty.
      const table = process.env.CHECK_ANY_TABLE === '1' && kv[0] && kv[0][1] ? kv[0][1] : base;
      if (!why && JSON.stringify(kv) !== JSON.stringify([['fpd.table', table], ['fpd.schema_version', '1']])) why = `kv metadata ${JSON.stringify(kv)}`;
    }
    report(!why, `duckdb_${base}`, why);
  } catch (e) { report(false, `duckdb_${base}`, String(e.message || e).split('\n')[0]); }
  // hyparquet, with hyparquet-compressors for ZSTD
  try {
    const buf = readFileSync(pq);
    const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    const md = parquetMetadata(file);
    const codecs = new Set(md.row_groups.flatMap(g => g.columns.map(c => c.meta_data.codec)));
    const rows = await parquetReadObjects({ file, compressors });
    let why = rows.length !== body.length ? `rows ${rows.length} vs ${body.length}` : '';
    const kinds = md.schema.slice(1).map(s => ({ BYTE_ARRAY: 'string', INT64: 'int64', DOUBLE: 'double', BOOLEAN: 'bool' })[s.type]);
    for (let i = 0; !why && i < rows.length; i++)
      for (let j = 0; j < header.length; j++)
        if (!same(kinds[j], body[i][j], rows[i][header[j]])) { why = `row ${i} col ${header[j]}: ${JSON.stringify(body[i][j])} vs ${String(rows[i][header[j]])}`; break; }
    report(!why, `hyparquet_${base}`, why);
  } catch (e) { report(false, `hyparquet_${base}`, String(e.message || e).split('\n')[0]); }
}
process.exit(failures ? 1 : 0);
