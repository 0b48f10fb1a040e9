// Reads a Parquet file with hyparquet (an independent reader, not the
// writer's library) and prints, as one JSON object per line, first the
// file's layout ({"meta": ...}: row groups, codecs, column types), then
// every row with int64 and timestamp values as decimal strings and the
// payload in base64, so a Go test can compare them exactly.
// Usage: node parquet_rows.mjs FILE   (NODE_PATH must reach hyparquet).
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const load = name => import(require.resolve(name, { paths: (process.env.NODE_PATH || '').split(':') }))
const { parquetMetadata, parquetReadObjects } = await load('hyparquet')
const { compressors } = await load('hyparquet-compressors')

const buf = readFileSync(process.argv[2])
const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)
const md = parquetMetadata(file)
const meta = {
  rows: String(md.num_rows),
  row_groups: md.row_groups.map(g => String(g.num_rows)),
  codecs: [...new Set(md.row_groups.flatMap(g => g.columns.map(c => c.meta_data.codec)))],
  schema: md.schema.slice(1).map(s => ({ name: s.name, type: s.type, repetition: s.repetition_type,
    logical: s.logical_type ? JSON.stringify(s.logical_type) : '' })),
}
console.log(JSON.stringify({ meta }))
const parsers = { timestampFromNanoseconds: n => String(n) }
const rows = await parquetReadObjects({ file, compressors, parsers, utf8: false })
for (const r of rows) {
  console.log(JSON.stringify({
    offset: String(r.offset), time: r.time, topic: r.topic, qos: r.qos, retain: r.retain,
    payload: Buffer.from(r.payload ?? []).toString('base64'), properties: r.properties,
  }))
}
