import { addressMethods } from './address.js';
import { companyMethods } from './company.js';
import { contactMethods } from './contact.js';
import { dealMethods } from './deal.js';
import { duplicateMethods } from './duplicate.js';
import { importMethods } from './import.js';
import type { Handler } from './method.js';
import { requisiteMethods } from './requisite.js';

/** Every method the sandbox speaks besides `batch`, by lower-case name; all need the `crm` scope. */
export const METHODS: ReadonlyMap<string, Handler> = new Map(
  Object.entries({
    ...companyMethods, ...contactMethods, ...requisiteMethods, ...addressMethods, ...duplicateMethods, ...importMethods, ...dealMethods,
  }).map(([name, handler]) => [name.toLowerCase(), handler]),
);
