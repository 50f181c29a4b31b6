import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';

/**
 * Loads a generated store A dump (store_a.sql) into a MySQL database, statement by
 * statement over a latin1 connection, so the Windows-1251 bytes land in the latin1 columns
 * as they are (what `mysql DB < store_a.sql` does). The generator ends every statement
 * with ";\n" and escapes newlines inside values, so that is where statements split. The
 * rows go in one transaction: committed one INSERT at a time (an order, an order line), each
 * waited for its log flush, a sample of a few thousand companies took half a minute.
 */
export async function loadMysqlDump(url: string, path: string): Promise<void> {
  const text = readFileSync(path).toString('latin1');
  const connection = await mysql.createConnection({ uri: url, charset: 'LATIN1_SWEDISH_CI' });
  try {
    await connection.query('SET autocommit = 0');
    for (const statement of text.split(';\n')) {
      const sql = statement.replace(/^(--[^\n]*\n|\s)+/, '').trim();
      if (sql) await connection.query(sql);
    }
    await connection.query('COMMIT');
  } finally {
    await connection.end();
  }
}
