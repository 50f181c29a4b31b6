import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const innProblem = (inn: string | null) => db.value<string | null>('select etl.inn_problem($1)', [inn]);

describe('etl.inn_problem', () => {
  it('accepts real 10- and 12-digit INNs', async () => {
    // Sberbank, Gazprom, Yandex; two individual entrepreneurs' INNs
    for (const inn of ['7707083893', '7736050003', '7736207543', '500100732259', '773370857141']) {
      expect(await innProblem(inn), inn).toBeNull();
      expect(await db.value('select etl.inn_is_valid($1)', [inn])).toBe(true);
    }
  });

  it('names the reason for every invalid INN', async () => {
    expect(await innProblem(null)).toBe('inn_missing');
    expect(await innProblem('   ')).toBe('inn_missing');
    expect(await innProblem('770708389')).toBe('inn_malformed');
    expect(await innProblem('77070838931')).toBe('inn_malformed');
    expect(await innProblem('77O7083893')).toBe('inn_malformed');
    expect(await innProblem('7707083894')).toBe('inn_checksum');
    expect(await innProblem('500100732258')).toBe('inn_checksum'); // second check digit wrong
    expect(await innProblem('500100732269')).toBe('inn_checksum'); // first check digit wrong
    expect(await db.value('select etl.inn_is_valid($1)', ['7707083894'])).toBe(false);
  });

  it('ignores spaces inside an INN', async () => {
    expect(await innProblem(' 7707 083 893 ')).toBeNull();
  });
});

describe('requisite checks', () => {
  it('checks KPP format, OGRN/OGRNIP check digits and bank account keys', async () => {
    const row = await db.rows(`select
      etl.kpp_problem('773601001') as kpp_ok, etl.kpp_problem('7736AB001') as kpp_letters, etl.kpp_problem('77360100') as kpp_short,
      etl.ogrn_problem('1027700132195') as ogrn_ok, etl.ogrn_problem('1027700132196') as ogrn_bad,
      etl.ogrn_problem('304500116000157') as ogrnip_ok, etl.ogrn_problem('304500116000158') as ogrnip_bad,
      etl.ogrn_problem('12345') as ogrn_short,
      etl.corr_account_problem('044525225', '30101810400000000225') as corr_ok,
      etl.corr_account_problem('044525225', '30101810500000000225') as corr_bad,
      etl.bank_account_problem('044525225', '40702810138000000001') as account_probe`);
    expect(row[0]).toMatchObject({
      kpp_ok: null, kpp_letters: null, kpp_short: 'kpp_malformed',
      ogrn_ok: null, ogrn_bad: 'ogrn_checksum', ogrnip_ok: null, ogrnip_bad: 'ogrn_checksum', ogrn_short: 'ogrn_malformed',
      corr_ok: null, corr_bad: 'bank_corr_account_checksum',
    });
    // exactly one control digit (the 9th) makes a settlement account valid for a BIK
    const valid = await db.rows<{ digit: number }>(`
      select d as digit from generate_series(0, 9) d
      where etl.bank_account_problem('044525225', '40702810' || d || '38000000001') is null`);
    expect(valid).toHaveLength(1);
  });
});

describe('text cleaning', () => {
  it('repairs Windows-1251 read as Latin-1 and UTF-8 read as Windows-1252', async () => {
    expect(await db.value(`select etl.fix_mojibake('Ðîìàøêà')`)).toBe('Ромашка');
    expect(await db.value(`select etl.fix_mojibake('ÎÎÎ «Ðîìàøêà»')`)).toBe('ООО «Ромашка»');
    expect(await db.value(`select etl.fix_mojibake(convert_from(convert_to('Рога и копыта', 'UTF8'), 'WIN1252'))`)).toBe('Рога и копыта');
  });

  it('leaves correct text untouched', async () => {
    for (const text of ['ООО «Ромашка»', 'Café Müller', 'Société Générale', 'IBM', 'ёлка', 'Straße 5', '']) {
      expect(await db.value('select etl.fix_mojibake($1)', [text]), text).toBe(text);
    }
  });

  it('trims and collapses whitespace, empty becomes null', async () => {
    expect(await db.value(`select etl.clean_text(E'  ООО \\t «Ромашка»\\u00a0 ')`)).toBe('ООО «Ромашка»');
    expect(await db.value(`select etl.clean_text('   ')`)).toBeNull();
  });

  it('lower-cases and checks e-mails', async () => {
    expect(await db.value(`select etl.clean_email(' Ivan.Petrov@Mail.RU ')`)).toBe('ivan.petrov@mail.ru');
    expect(await db.value(`select etl.clean_email('ivan.mail.ru')`)).toBeNull();
    expect(await db.value(`select etl.clean_email('ivan@mail')`)).toBeNull();
  });

  it('splits a one-string name into last, first and middle name', async () => {
    const [row] = await db.rows(`select etl.fio_part(' Иванов  Иван Иванович ', 1) as l, etl.fio_part('Иванов Иван Иванович', 2) as f,
      etl.fio_part('Иванов Иван Иванович', 3) as m, etl.fio_part('Алиев Рашид Гусейн Оглы', 3) as m4, etl.fio_part('Петров Пётр', 3) as m2`);
    expect(row).toEqual({ l: 'Иванов', f: 'Иван', m: 'Иванович', m4: 'Гусейн Оглы', m2: null });
  });
});
