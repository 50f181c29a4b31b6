import { isoWithOffset } from '../envelope.js';
import type { Handler, MethodContext } from './method.js';

/**
 * The webhook's user as the portal describes it. The sandbox has one user, the webhook's; an
 * administrator, as the user who makes an inbound webhook usually is.
 */
function webhookUser(ctx: MethodContext) {
  return { ID: String(ctx.userId), NAME: 'Администратор', LAST_NAME: 'Песочницы', EMAIL: 'admin@sandbox.localhost' };
}

/** A day in the past, at midnight, as the portal writes dates (`2024-07-22T00:00:00+00:00`). */
function daysAgo(ctx: MethodContext, days: number): string {
  const day = new Date(ctx.now.getFullYear(), ctx.now.getMonth(), ctx.now.getDate() - days);
  return isoWithOffset(day);
}

/**
 * The methods health checks and integrators call first: server.time (the JS SDK's
 * tools.healthCheck and tools.ping), profile and user.current (DOCS common/system/server-time.md,
 * common/users/profile.md, user/user-current.md). The scopes they need are in index.ts.
 */
export const systemMethods: Record<string, Handler> = {
  /** The server's time, `YYYY-MM-DDThh:mm:ss±hh:mm`. */
  async 'server.time'(ctx) {
    return { result: isoWithOffset(ctx.now) };
  },
  async profile(ctx) {
    const user = webhookUser(ctx);
    return { result: { ID: user.ID, ADMIN: true, NAME: user.NAME, LAST_NAME: user.LAST_NAME, PERSONAL_GENDER: '', TIME_ZONE: '' } };
  },
  /** The fields of the docs' example; the portal varies them by the version of the user scope. */
  async 'user.current'(ctx) {
    return {
      result: {
        ...webhookUser(ctx), ACTIVE: true, LAST_LOGIN: isoWithOffset(ctx.now), DATE_REGISTER: daysAgo(ctx, 30), IS_ONLINE: 'Y',
        LAST_ACTIVITY_DATE: isoWithOffset(ctx.now).slice(0, 19).replace('T', ' '), PERSONAL_GENDER: '', PERSONAL_BIRTHDAY: '',
        WORK_POSITION: 'Администратор', UF_EMPLOYMENT_DATE: '', UF_DEPARTMENT: [1],
      },
    };
  },
};
