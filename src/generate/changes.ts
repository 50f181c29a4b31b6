import { join } from 'node:path';
import { readRecords } from '../land/file-reader.js';
import type { ManifestFile } from './index.js';
import { JsonArrayFile } from './json-writer.js';
import { Random } from './random.js';
import { breakChecksum } from './requisites.js';

export interface ChangeOptions {
  /** Folder of the generated sample (its manifest's files). */
  dir: string;
  manifest: ManifestFile[];
  /** Where the changed records go. */
  out: string;
  round: number;
  /** Share of records that change, 0..1. */
  fraction: number;
  seed?: number;
  /** When the changes happen; must be later than the sample's records. */
  at: string;
}

type Json = Record<string, unknown>;

/**
 * A round of changes to a generated sample, the kind a live store sends: renamed
 * companies, INNs broken, fixed or moved onto another company's (a merge), records
 * pushed out of the load window; contacts who change phone, take another person's phone
 * (a merge), move to another company or lose their e-mail; orders that change status, lines,
 * company or date. Written as new files of
 * changed records (same keys, newer `updated`), with a manifest to land them.
 */
export async function writeChanges(o: ChangeOptions): Promise<ManifestFile[]> {
  const r = new Random((o.seed ?? 1) * 1000 + o.round);
  const written: ManifestFile[] = [];
  let lastInn: string | null = null;
  const lastPhoneByCompany = new Map<string, string>();
  const companyKeys: string[] = [];

  for (const file of o.manifest) {
    const name = `round-${o.round}-${file.file.replace(/\.cp1251/, '')}`;
    const out = new JsonArrayFile(join(o.out, name));
    for await (const value of readRecords({ path: join(o.dir, file.file), encoding: file.encoding, jsonPath: file.jsonPath }, { bytes: 0 })) {
      const record = value as Json;
      if (file.entity === 'companies') {
        const inn = typeof record.inn === 'string' ? record.inn : null;
        if (companyKeys.length < 5000 || r.chance(0.01)) companyKeys[companyKeys.length < 5000 ? companyKeys.length : r.int(0, 4999)] = String(record.id);
        if (r.chance(o.fraction)) await out.add(changeCompany(r, record, lastInn, o.at));
        if (inn && /^\d+$/.test(inn)) lastInn = inn;
      } else if (file.entity === 'orders') {
        if (r.chance(o.fraction)) await out.add(changeOrder(r, record, companyKeys, o.at));
      } else {
        const companyKey = String(record.company_id);
        const phones = Array.isArray(record.phones) ? (record.phones as string[]) : [];
        if (r.chance(o.fraction)) await out.add(changeContact(r, record, lastPhoneByCompany.get(companyKey), companyKeys, o.at));
        if (phones[0]) lastPhoneByCompany.set(companyKey, phones[0]);
      }
    }
    await out.close();
    if (out.count > 0) written.push({ file: name, source: file.source, entity: file.entity, encoding: 'utf8' });
  }
  return written;
}

function changeCompany(r: Random, record: Json, otherInn: string | null, at: string): Json {
  const changed: Json = { ...record, updated: at };
  const inn = typeof record.inn === 'string' ? record.inn : '';
  const roll = r.next();
  if (roll < 0.35) changed.title = `${String(record.title ?? '').trim()} (новое название)`;
  else if (roll < 0.5) changed.phones = [`+7 495 ${r.int(200, 999)} ${r.int(10, 99)} ${r.int(10, 99)}`];
  else if (roll < 0.6 && /^\d{10,12}$/.test(inn)) changed.inn = breakChecksum(inn);
  else if (roll < 0.7 && otherInn) changed.inn = otherInn; // now the same company as another record
  else if (roll < 0.8) changed.updated = '2019-06-01T00:00:00Z'; // a late, older version: must not win
  else changed.address = `${String(record.address ?? '')}, офис ${r.int(1, 500)}`;
  return changed;
}

function changeOrder(r: Random, record: Json, companyKeys: string[], at: string): Json {
  const changed: Json = { ...record, updated: at };
  const items = Array.isArray(record.items) ? (record.items as Json[]) : [];
  const roll = r.next();
  if (roll < 0.3) changed.status = r.pick(['paid', 'delivered', 'canceled', 'on_review']);
  else if (roll < 0.45 && items.length > 0) changed.items = [{ ...items[0], qty: Number(items[0]!.qty ?? 1) + 1 }, ...items.slice(1)]; // the total no longer adds up
  else if (roll < 0.55 && companyKeys.length) changed.company_id = r.pick(companyKeys); // another company's order now
  else if (roll < 0.65) changed.created = '2019-03-01T10:00:00+03:00'; // out of the window now
  else if (roll < 0.75) changed.updated = '2019-06-01T00:00:00Z'; // a late, older version: must not win
  else if (roll < 0.85) delete changed.contact_id;
  else changed.total = Number(record.total) + 100;
  return changed;
}

function changeContact(r: Random, record: Json, neighbourPhone: string | undefined, companyKeys: string[], at: string): Json {
  const changed: Json = { ...record, updated: at };
  const roll = r.next();
  if (roll < 0.3) changed.phones = [`+7 916 ${r.int(100, 999)}-${r.int(10, 99)}-${r.int(10, 99)}`];
  else if (roll < 0.5 && neighbourPhone) changed.phones = [neighbourPhone]; // same phone as a colleague: one person now
  else if (roll < 0.65 && companyKeys.length) changed.company_id = r.pick(companyKeys);
  else if (roll < 0.8) delete changed.email;
  else changed.position = 'Финансовый директор';
  return changed;
}
