import { sameValue } from './fields.js';

/** A multifield item as the CRM returns it. */
export interface CrmMultifield {
  ID: string;
  VALUE: string;
  VALUE_TYPE?: string;
  TYPE_ID?: string;
}

export type MultifieldChange = { VALUE: string; VALUE_TYPE: string } | { ID: string; DELETE: 'Y' };

/**
 * What to send for one multifield (PHONE or EMAIL) so the CRM gets our new values without
 * losing a manager's: values we want, did not push before and the CRM lacks are added (an
 * item without ID is added, the others stay); values we pushed before and no longer want are
 * deleted ({ID, DELETE: 'Y'}) if the CRM still has them. A value the manager added is never in
 * `pushed`, so it is never deleted; one of ours the manager deleted or rewrote is not added
 * again while we keep wanting it.
 */
export function multifieldChanges(kind: 'PHONE' | 'EMAIL', crm: readonly CrmMultifield[], pushed: readonly string[], wanted: readonly string[]): MultifieldChange[] {
  const inCrm = new Map(crm.map((item) => [sameValue(kind, item.VALUE), item]));
  const want = new Set(wanted.map((v) => sameValue(kind, v)));
  const ours = new Set(pushed.map((v) => sameValue(kind, v)));
  const changes: MultifieldChange[] = [];
  for (const value of wanted) {
    const key = sameValue(kind, value);
    if (!inCrm.has(key) && !ours.has(key)) changes.push({ VALUE: value, VALUE_TYPE: 'WORK' });
  }
  for (const value of pushed) {
    const key = sameValue(kind, value);
    const item = inCrm.get(key);
    if (item && !want.has(key)) changes.push({ ID: item.ID, DELETE: 'Y' });
  }
  return changes;
}

/**
 * Our values of a multifield: those pushed, and those a write whose answer was lost meant to
 * make ours (its intent) that the CRM now holds — that write ran. Without this they would pass
 * for a manager's and never be removed when the clean base drops them.
 */
export function ownedValues(kind: 'PHONE' | 'EMAIL', crm: readonly CrmMultifield[], pushed: readonly string[], intended: readonly string[] | undefined): string[] {
  if (!intended || intended.length === 0) return [...pushed];
  const inCrm = new Set(crm.map((item) => sameValue(kind, item.VALUE)));
  const have = new Set(pushed.map((v) => sameValue(kind, v)));
  return [...pushed, ...intended.filter((v) => inCrm.has(sameValue(kind, v)) && !have.has(sameValue(kind, v)))];
}

/**
 * Our values of a multifield after `multifieldChanges` was sent: those pushed before and still
 * wanted, and those it added. A value we want that was already in the CRM (a manager's) stays
 * the manager's.
 */
export function ownedAfter(kind: 'PHONE' | 'EMAIL', crm: readonly CrmMultifield[], pushed: readonly string[], wanted: readonly string[]): string[] {
  const want = new Set(wanted.map((v) => sameValue(kind, v)));
  const inCrm = new Set(crm.map((item) => sameValue(kind, item.VALUE)));
  const ours = new Set(pushed.map((v) => sameValue(kind, v)));
  return [
    ...pushed.filter((v) => want.has(sameValue(kind, v))),
    ...wanted.filter((v) => !inCrm.has(sameValue(kind, v)) && !ours.has(sameValue(kind, v))),
  ];
}

/**
 * Scalar fields to send: those whose value we want differs from what we pushed, unless a
 * manager changed the field in the CRM since (then the CRM keeps the manager's value, and
 * `kept` keeps our old value as pushed, so the field stays the manager's next time too).
 */
export function scalarChanges(
  crm: Readonly<Record<string, unknown>>,
  pushed: Readonly<Record<string, string>> | null,
  wanted: Readonly<Record<string, string>>,
): { changes: Record<string, string>; kept: Record<string, string> } {
  const changes: Record<string, string> = {};
  const kept: Record<string, string> = {};
  for (const field of new Set([...Object.keys(pushed ?? {}), ...Object.keys(wanted)])) {
    const ours = pushed?.[field] ?? '';
    const want = wanted[field] ?? '';
    if (want === ours) {
      if (ours !== '') kept[field] = ours;
      continue;
    }
    const current = crm[field] === null || crm[field] === undefined ? '' : String(crm[field]);
    if (current === ours || current === want) {
      changes[field] = want;
      if (want !== '') kept[field] = want;
    } else if (ours !== '') {
      kept[field] = ours; // the manager's edit stands
    }
  }
  return { changes, kept };
}
