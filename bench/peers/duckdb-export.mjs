// DuckDB peer for the local export benchmark: the same work as `pipeline export` (filter one
// segment, project the fields, gzip CSV with a header) in one COPY statement.
//   node duckdb-export.mjs INPUT SEGMENT FIELDS OUT.csv.gz [THREADS]
// INPUT is .csv.gz (segments as a ';' string) or .parquet (segments as list<string> or string).
// Every column is read as text (all_varchar), like our exporter, so both write the same values.
import { DuckDBInstance } from "@duckdb/node-api";

const [input, segment, fieldList, out, threads] = process.argv.slice(2);
if (!out) { console.error("usage: node duckdb-export.mjs INPUT SEGMENT FIELDS OUT.csv.gz [THREADS]"); process.exit(2); }
const q = (s) => "'" + s.replaceAll("'", "''") + "'";
const id = (s) => '"' + s.replaceAll('"', '""') + '"';
const fields = fieldList.split(",").map(id).join(", ");

const started = process.hrtime.bigint();
const instance = await DuckDBInstance.create(":memory:", threads ? { threads: String(threads) } : {});
const db = await instance.connect();
let source, membership;
if (input.endsWith(".parquet")) {
  source = `read_parquet(${q(input)})`;
  const type = (await (await db.runAndReadAll(`SELECT typeof(segments) FROM ${source} LIMIT 1`)).getRows())[0][0];
  membership = String(type).endsWith("[]")
    ? `list_contains(segments, ${q(segment)})`
    : `list_contains(string_split(segments, ';'), ${q(segment)})`;
} else {
  source = `read_csv(${q(input)}, header = true, all_varchar = true)`;
  membership = `list_contains(string_split(segments, ';'), ${q(segment)})`;
}
const sql = `COPY (SELECT ${fields} FROM ${source} WHERE ${membership}) TO ${q(out)} (FORMAT csv, HEADER true, COMPRESSION gzip)`;
const result = await db.run(sql);
const rows = (await result.getRowsJson?.()) ?? null;
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log(JSON.stringify({ sql, seconds, rows }));
db.closeSync?.();
instance.closeSync?.();
