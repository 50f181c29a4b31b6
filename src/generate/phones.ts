import type { Random } from './random.js';

const MOBILE_CODES = ['903', '905', '909', '915', '916', '925', '926', '929', '963', '965', '977', '985', '999'];
const CITY_CODES = ['495', '499', '812', '843', '343', '383'];

/** National 10-digit numbers, unique per call order (the counter spreads them). */
export class PhoneBook {
  private mobiles = 1000003;
  private landlines = 0;

  constructor(private readonly r: Random) {}

  mobile(): string {
    // 7919 is prime to 10^7, so 10 million calls pass before a number repeats
    this.mobiles += 7919;
    return this.r.pick(MOBILE_CODES) + String(this.mobiles % 10_000_000).padStart(7, '0');
  }

  landline(): string {
    this.landlines += 7919;
    return this.r.pick(CITY_CODES) + String(2_000_000 + (this.landlines % 7_000_000));
  }
}

/** The ways people write one Russian number; the extension, if any, in Russian words. */
export function writePhone(r: Random, national: string, extension?: string): string {
  const [a, b, c, d] = [national.slice(0, 3), national.slice(3, 6), national.slice(6, 8), national.slice(8, 10)];
  const formats = [
    `+7 ${a} ${b} ${c} ${d}`,
    `8 (${a}) ${b}-${c}-${d}`,
    `8-${a}-${b}${c}${d}`,
    `+7${national}`,
    `7(${a})${b}${c}${d}`,
    `8 ${a} ${b} ${c} ${d}`,
    `+7 (${a}) ${b}-${c}-${d}`,
  ];
  const text = r.pick(formats);
  return extension ? `${text} ${r.pick(['доб.', 'доб', 'вн.'])} ${extension}` : text;
}

export const JUNK_PHONES = ['нет', '12-34', 'звонить секретарю', '-', '000', 'тел. уточнить'];
