import { createReadStream } from 'node:fs';
import iconv from 'iconv-lite';
import { JsonArrayScanner } from '../src/land/json-array-scanner.ts';
let t = Date.now(), n = 0;
for await (const c of createReadStream('/tmp/seed/store_b_contacts.json', { highWaterMark: 1 << 20 }).pipe(iconv.decodeStream('utf8'))) n += c.length;
console.log('read+iconv', n, Date.now() - t);
t = Date.now(); n = 0;
for await (const c of createReadStream('/tmp/seed/store_b_contacts.json', { highWaterMark: 1 << 20, encoding: 'utf8' })) n += c.length;
console.log('read utf8', n, Date.now() - t);
t = Date.now(); n = 0; const s = new JsonArrayScanner('contacts'); let p = 0;
for await (const c of createReadStream('/tmp/seed/store_b_contacts.json', { highWaterMark: 1 << 20, encoding: 'utf8' })) { const e = s.feed(c); n += e.length; }
console.log('scan', n, Date.now() - t);
t = Date.now(); n = 0; const s2 = new JsonArrayScanner('contacts');
for await (const c of createReadStream('/tmp/seed/store_b_contacts.json', { highWaterMark: 1 << 20, encoding: 'utf8' })) { for (const e of s2.feed(c)) { JSON.parse(e.text); n++; } }
console.log('scan+parse', n, Date.now() - t);
