// Registry checks at the scale, one run on this machine: 10 000 generated
// companies, a third with an INN that fails its checksum, a DaData-compatible stub
// answering in 400 ms (the seed system's figure), a limit of 20 requests/s.
// Prints requests sent against the number of valid INNs, the achieved rate against the
// limit, and the total time against the seed's serial 0.4 s per company. Asserts nothing.
// Usage: DATABASE_URL=... node dist/bench/registry.js [companies]
import { registryConfig } from '../src/config.js';
import { Random } from '../src/generate/random.js';
import { breakChecksum, makeInn10, makeInn12 } from '../src/generate/requisites.js';
import { drainQueue } from '../src/jobs/worker.js';
import { landBatch } from '../src/land/staging-writer.js';
import { isoMicros } from '../src/land/change-time.js';
import { DadataStub } from '../src/registry/dadata-stub.js';
import type { RegistryRecord } from '../src/registry/provider.js';
import { runTransform } from '../src/transform/run.js';
import { benchPool, freshDatabase, seconds, timed } from './common.js';

const companies = Number(process.argv[2] ?? 10_000);
const rps = 20;
const latencyMs = 400;
const r = new Random(7);
const registry = new Map<string, RegistryRecord>();
const records = [];
const now = new Date().toISOString();
let valid = 0;
for (let i = 1; i <= companies; i++) {
  let inn = r.chance(0.15) ? makeInn12(r) : makeInn10(r);
  while (registry.has(inn)) inn = makeInn10(r);
  const broken = i % 3 === 0;
  if (broken) inn = breakChecksum(inn);
  else {
    valid += 1;
    const status = r.chance(0.9) ? 'ACTIVE' : 'LIQUIDATED';
    registry.set(inn, { inn, status, liquidationDate: status === 'LIQUIDATED' ? '2024-05-01' : null, fullName: `ООО «Компания ${i}»`,
      shortName: `ООО «Компания ${i}»`, legalForm: 'ООО', kpp: null, ogrn: null, address: null, head: null });
  }
  records.push({ sourceKey: `R-${i}`, updatedAt: isoMicros(now), isDeleted: false, payload: { id: `R-${i}`, inn, title: `ООО «Компания ${i}»`, updated: now } });
}

const url = await freshDatabase('b2b_etl_bench_registry');
const pool = benchPool(url, 24);
await landBatch(pool, { source: 'store_b', entity: 'company', origin: 'bench' }, records);
await runTransform(pool);
const queued = Number((await pool.query(`select count(*) as n from graphile_worker.jobs where task_identifier = 'registry_check'`)).rows[0].n);
console.log(`${companies} companies landed and transformed: ${valid} valid INNs, ${companies - valid} failing the checksum; ${queued} registry_check jobs queued`);

const token = 'bench-token';
const stub = new DadataStub({ token, companies: registry, latencyMs });
process.env.DADATA_URL = await stub.start();
process.env.DADATA_TOKEN = token;
const config = registryConfig({ sources: {}, registry: { provider: 'dadata', rps, concurrency: 16 } });
const [, checkSeconds] = await timed(() => drainQueue({ pool, registry: config, log: () => {} }));
await stub.stop();
const times = stub.requests.map((q) => q.at).sort((a, b) => a - b);
const achieved = (times.length - 1) / ((times[times.length - 1]! - times[0]!) / 1000);
const serial = companies * 0.4;
console.log(`requests sent: ${stub.requests.length} (valid INNs: ${valid}; target: exactly that)`);
console.log(`achieved rate: ${achieved.toFixed(2)} requests/s against a limit of ${rps} (${((achieved / rps) * 100).toFixed(1)}%; target ≥ 90%)`);
console.log(`total: ${seconds(checkSeconds)} with concurrency 16 against the seed's serial ${seconds(serial)} (0.4 s × ${companies}): ` +
  `${(serial / checkSeconds).toFixed(1)}× faster (target ≥ 10×)`);
await pool.end();
