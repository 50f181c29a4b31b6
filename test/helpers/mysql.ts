import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { redactUrl } from '../../src/db/connection.js';
import { mojibake } from '../../src/generate/store-b.js';

/** Text as store A's shop writes it: Windows-1251 bytes, sent over a latin1 connection. */
export const cp1251 = mojibake;

/** The MariaDB/MySQL server the tests use: MYSQL_URL's, else the machine's on 127.0.0.1:3306. */
const SERVER_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

/**
 * Whether the server answers. Without it the MySQL suites skip, unless REQUIRE_SERVICES=1
 * (CI), where a missing server fails the run.
 */
export async function mysqlAvailable(): Promise<boolean> {
  try {
    const c = await mysql.createConnection({ uri: SERVER_URL, connectTimeout: 3000 });
    await c.end();
    return true;
  } catch (e) {
    if (process.env.REQUIRE_SERVICES === '1') {
      throw new Error(`REQUIRE_SERVICES=1 and MySQL at ${redactUrl(SERVER_URL)} does not answer: ${(e as Error).message}`);
    }
    return false;
  }
}

export interface TestMysql {
  url: string;
  query(sql: string, values?: unknown[]): Promise<unknown>;
  drop(): Promise<void>;
}

/** A fresh database on the test server; drop() removes it. */
export async function createTestMysql(): Promise<TestMysql> {
  const name = `b2b_etl_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = await mysql.createConnection({ uri: SERVER_URL });
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  const connection = await mysql.createConnection({ uri: url.toString(), charset: 'LATIN1_SWEDISH_CI' });
  return {
    url: url.toString(),
    async query(sql, values) {
      const [rows] = await connection.query(sql, values);
      return rows;
    },
    async drop() {
      await connection.query(`drop database if exists ${name}`).catch(() => {});
      await connection.end();
    },
  };
}
