import { writeFileSync } from 'node:fs';
import type { Random } from './random.js';

export type RegistryTruth = Record<string, 'ACTIVE' | 'LIQUIDATING' | 'LIQUIDATED' | 'BANKRUPT' | 'REORGANIZING' | 'NOT_FOUND'>;

const FORMS: Record<string, string> = {
  ООО: 'ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ',
  АО: 'АКЦИОНЕРНОЕ ОБЩЕСТВО',
  ПАО: 'ПУБЛИЧНОЕ АКЦИОНЕРНОЕ ОБЩЕСТВО',
  ЗАО: 'ЗАКРЫТОЕ АКЦИОНЕРНОЕ ОБЩЕСТВО',
  ИП: 'ИНДИВИДУАЛЬНЫЙ ПРЕДПРИНИМАТЕЛЬ',
};

/**
 * A registry export consistent with the sample (registry.json, the snapshot provider's
 * input): most accepted companies ACTIVE under the name the sample expects, some
 * liquidated, liquidating, bankrupt or reorganising (with a date where one applies), and
 * some the registry does not know (left out of the file).
 */
export function writeRegistrySnapshot(r: Random, file: string, names: Map<string, string>): RegistryTruth {
  const truth: RegistryTruth = {};
  const rows: Array<Record<string, string | null>> = [];
  for (const [inn, name] of names) {
    const roll = r.next();
    const status = roll < 0.04 ? 'LIQUIDATED' : roll < 0.06 ? 'LIQUIDATING' : roll < 0.07 ? 'BANKRUPT' : roll < 0.08 ? 'REORGANIZING'
      : roll < 0.11 ? 'NOT_FOUND' : 'ACTIVE';
    truth[inn] = status;
    if (status === 'NOT_FOUND') continue;
    const form = /^(ООО|АО|ПАО|ЗАО|ИП)(?=\s)/.exec(name)?.[1] ?? null;
    const bare = form ? name.slice(form.length).trim() : name;
    rows.push({
      inn,
      status,
      full_name: form ? `${FORMS[form]} ${bare}` : name,
      short_name: name,
      legal_form: form,
      kpp: null,
      ogrn: null,
      address: null,
      head: form === 'ИП' ? null : 'Иванов Иван Иванович',
      liquidation_date: status === 'LIQUIDATED' ? `20${r.int(20, 25)}-0${r.int(1, 9)}-1${r.int(0, 9)}` : null,
    });
  }
  writeFileSync(file, JSON.stringify(rows, null, 0).replace(/\},\{/g, '},\n{') + '\n');
  return truth;
}
