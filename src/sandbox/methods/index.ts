import { addressMethods } from './address.js';
import { companyMethods } from './company.js';
import { contactMethods } from './contact.js';
import { dealMethods } from './deal.js';
import { duplicateMethods } from './duplicate.js';
import { fieldsMethods } from './fields.js';
import { importMethods } from './import.js';
import { itemMethods } from './item.js';
import type { Handler } from './method.js';
import { requisiteMethods } from './requisite.js';
import { statusMethods } from './status.js';
import { systemMethods } from './system.js';

/** Every method the sandbox speaks besides `batch`, by lower-case name. */
export const METHODS: ReadonlyMap<string, Handler> = new Map(
  Object.entries({
    ...companyMethods, ...contactMethods, ...requisiteMethods, ...addressMethods, ...duplicateMethods, ...importMethods, ...dealMethods,
    ...itemMethods, ...fieldsMethods, ...statusMethods, ...systemMethods,
  }).map(([name, handler]) => [name.toLowerCase(), handler]),
);

/**
 * The scopes of which a webhook needs one to call a method (scopes/permissions.md): none for
 * the basic methods every webhook has (server.time, profile), a version of `user` for
 * user.current, `crm` for the rest.
 */
const SCOPES: Record<string, readonly string[]> = {
  'server.time': [],
  profile: [],
  'user.current': ['user', 'user_brief', 'user_basic'],
};

export function scopesOf(method: string): readonly string[] {
  return SCOPES[method] ?? ['crm'];
}
