import type { Random } from './random.js';

// Generators of valid Russian requisites (and deliberately broken ones) for sample data.

function weightedCheck(digits: string, weights: number[]): number {
  let sum = 0;
  weights.forEach((w, i) => (sum += Number(digits[i]) * w));
  return (sum % 11) % 10;
}

const W10 = [2, 4, 10, 3, 5, 9, 4, 6, 8];
const W11 = [7, 2, 4, 10, 3, 5, 9, 4, 6, 8];
const W12 = [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8];

export function innIsValid(inn: string): boolean {
  if (/^\d{10}$/.test(inn)) return weightedCheck(inn, W10) === Number(inn[9]);
  if (/^\d{12}$/.test(inn)) return weightedCheck(inn, W11) === Number(inn[10]) && weightedCheck(inn, W12) === Number(inn[11]);
  return false;
}

export function makeInn10(r: Random): string {
  const body = String(r.int(10, 99)) + r.digits(7);
  return body + weightedCheck(body, W10);
}

export function makeInn12(r: Random): string {
  const body = String(r.int(10, 99)) + r.digits(8);
  const eleventh = body + weightedCheck(body, W11);
  return eleventh + weightedCheck(eleventh, W12);
}

/** The same INN with its last check digit changed, so only the checksum is wrong. */
export function breakChecksum(inn: string): string {
  const last = Number(inn[inn.length - 1]);
  return inn.slice(0, -1) + String((last + 1 + (last % 3)) % 10);
}

export function makeKpp(r: Random, inn: string): string {
  return inn.slice(0, 4) + r.pick(['01', '01', '01', '43', '45']) + '001';
}

export function makeOgrn(r: Random): string {
  const body = r.pick(['1', '5']) + r.digits(11);
  return body + String((BigInt(body) % 11n) % 10n);
}

export function makeOgrnip(r: Random): string {
  const body = '3' + r.digits(13);
  return body + String((BigInt(body) % 13n) % 10n);
}

export function breakOgrn(ogrn: string): string {
  const last = Number(ogrn[ogrn.length - 1]);
  return ogrn.slice(0, -1) + String((last + 5) % 10);
}

export function makeBik(r: Random): string {
  return '04' + r.digits(4) + String(r.int(100, 999));
}

const ACCOUNT_WEIGHTS = [7, 1, 3];

function accountKeyOk(prefix: string, account: string): boolean {
  const digits = prefix + account;
  let sum = 0;
  for (let i = 0; i < 23; i++) sum += (Number(digits[i]) * ACCOUNT_WEIGHTS[i % 3]!) % 10;
  return sum % 10 === 0;
}

/** Account with the control key (its 9th digit) set so the Bank of Russia check passes. */
function withKey(prefix: string, head: string, tail: string): string {
  for (let k = 0; k <= 9; k++) {
    const account = head + k + tail;
    if (accountKeyOk(prefix, account)) return account;
  }
  throw new Error('no control key fits');
}

export function makeAccount(r: Random, bik: string): string {
  return withKey(bik.slice(-3), '40702810', r.digits(11));
}

export function makeCorrAccount(bik: string): string {
  return withKey('0' + bik.slice(4, 6), '30101810', '00000000' + bik.slice(-3));
}

export function breakAccount(account: string): string {
  const key = Number(account[8]);
  return account.slice(0, 8) + String((key + 3) % 10) + account.slice(9);
}
