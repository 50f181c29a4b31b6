#!/usr/bin/env node
import { main } from './commands/program.js';
import { mask } from './secrets.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`b2b-etl: ${mask(e instanceof Error ? e.message : String(e))}\n`);
    process.exit(1);
  },
);
