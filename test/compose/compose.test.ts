// docker-compose.yml and the Dockerfile, checked without a Docker engine: every b2b-etl
// service runs a command the CLI itself accepts, with every setting the code reads for it, and
// the services agree on hosts, ports, credentials, files and order.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative } from 'node:path';
import type { Command } from 'commander';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/commands/program.js';
import { forgetConfiguration } from '../../src/commands/context.js';
import { isMysqlSource, kafkaBrokers, kafkaSource, loadConfig, mysqlUrl, recordFields, registryConfig, workerConfig, type Config } from '../../src/config.js';
import { parseWebhook } from '../../src/crm/webhook.js';
import { projectRoot } from '../../src/db/paths.js';
import { generate, REGISTRY_SNAPSHOT, STORE_A_DUMP, STORE_B_EVENTS, type ManifestFile } from '../../src/generate/index.js';
import { parseEntity } from '../../src/land/record.js';

const ROOT = projectRoot();

interface Service {
  image?: string;
  build?: string | { context: string };
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] | string };
  restart?: string;
}

interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/** A b2b-etl command as the CLI parsed it: its words, options and arguments. */
interface Parsed {
  words: string[];
  options: Record<string, unknown>;
  args: string[];
}

/** The compose file, YAML merge keys (`<<: *b2b-etl`) resolved as Docker Compose resolves them. */
export function readCompose(text: string): Compose {
  return YAML.parse(text, { merge: true }) as Compose;
}

/** Dockerfile instructions, line continuations joined, comments left out. */
export function readDockerfile(text: string): Array<{ instruction: string; args: string }> {
  return text.replace(/\\\n/g, ' ').split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [instruction, ...rest] = line.split(/\s+/);
      return { instruction: instruction!.toUpperCase(), args: rest.join(' ') };
    });
}

/**
 * Parses argv with the CLI's own program (its command table, option parsers, required
 * options and the config check that runs before any command), the actions replaced so that
 * nothing runs. Throws what the CLI would say.
 */
export async function parseCommand(argv: string[], env: Record<string, string>): Promise<Parsed> {
  const program = buildProgram();
  let parsed: Parsed | null = null;
  const record = (command: Command) => {
    for (const sub of command.commands) {
      if (sub.commands.length > 0) record(sub);
      else {
        sub.action((...values: unknown[]) => {
          const self = values[values.length - 1] as Command;
          const words: string[] = [];
          for (let c: Command | null = self; c && c !== program; c = c.parent) words.unshift(c.name());
          parsed = { words, options: self.opts(), args: self.args };
        });
      }
    }
  };
  record(program);
  program.configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
  const saved = { ...process.env };
  try {
    for (const name of ['B2B_ETL_CONFIG']) delete process.env[name];
    Object.assign(process.env, env);
    forgetConfiguration();
    await program.parseAsync(argv, { from: 'user' });
  } finally {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
    forgetConfiguration();
  }
  if (!parsed) throw new Error(`${argv.join(' ')}: no command ran (a command group without its subcommand, or help)`);
  return parsed;
}

/**
 * Every environment variable the code reads (src/, `process.env.X`, `env.X`, `env['X']`),
 * found in the source so that a new one cannot be missed by the table below.
 */
function variablesTheCodeReads(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        const text = readFileSync(path, 'utf8');
        for (const match of text.matchAll(/\b(?:process\.)?env(?:\.|\[['"])([A-Z][A-Z0-9_]+)/g)) names.add(match[1]!);
      }
    }
  };
  walk(join(ROOT, 'src'));
  return names;
}

/** What a service's b2b-etl command needs of one variable, given the config it runs with. */
type Need = (command: string, config: Config) => boolean;
const uses = (...commands: string[]): Need => (command) => commands.includes(command);
const DATABASE_COMMANDS = ['migrate', 'land file', 'land mysql', 'consume', 'transform', 'enrich', 'worker', 'push', 'crm deleted', 'crm restore',
  'crm let-go', 'crm clear-limits', 'why', 'status', 'grant analyst', 'registry import', 'registry resume', 'sandbox', 'report'];

/**
 * Each variable the code reads: when a command in a container needs it set (`required`), or
 * why it may stay unset (`optional`). A variable read by the code and missing here fails the test.
 */
const VARIABLES: Record<string, { required: Need } | { optional: string }> = {
  // without it the embedded PostgreSQL would run inside the container, and its data die with it
  DATABASE_URL: { required: uses(...DATABASE_COMMANDS) },
  MYSQL_URL: { required: (command, config) => command === 'land mysql' || (command === 'worker' && Object.keys(workerConfig(config).sync).length > 0) },
  // its default, 127.0.0.1:9092, is the container itself
  KAFKA_BROKERS: { required: (command, config) => ['consume', 'produce'].includes(command) || (command === 'worker' && workerConfig(config).consume.length > 0) },
  KAFKA_SASL_USERNAME: { required: (command, config) => Boolean(config.kafka?.sasl) && ['consume', 'produce', 'worker'].includes(command) },
  KAFKA_SASL_PASSWORD: { required: (command, config) => Boolean(config.kafka?.sasl) && ['consume', 'produce', 'worker'].includes(command) },
  DADATA_TOKEN: { required: (command, config) => registryConfig(config).provider === 'dadata' && ['worker', 'enrich'].includes(command) },
  // the worker pushes what the transform queues to the portal this names
  BITRIX24_WEBHOOK_URL: { required: uses('worker', 'push') },
  B2B_ETL_CONFIG: { optional: 'without it ./b2b-etl.config.json, or none; checked below when set' },
  DADATA_URL: { optional: 'DaData\'s own address by default' },
  EMBEDDED_PG_PORT: { optional: 'only without DATABASE_URL' },
  B2B_ETL_DEBUG: { optional: 'adds stack traces' },
};

/** The path in the repository of a file the image holds at `path` (COPY src dest in the Dockerfile, WORKDIR /app). */
function repositoryPathOf(path: string, copies: Array<{ from: string; to: string }>): string | null {
  for (const copy of copies) {
    if (path === copy.to || path.startsWith(`${copy.to}/`)) return join(ROOT, copy.from, path.slice(copy.to.length));
  }
  return null;
}

const compose = readCompose(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'));
const dockerfile = readDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };

const stages = dockerfile.reduce<Array<Array<{ instruction: string; args: string }>>>((all, step) => {
  if (step.instruction === 'FROM') all.push([]);
  all[all.length - 1]?.push(step);
  return all;
}, []);
const finalStage = stages[stages.length - 1] ?? [];
const workdir = finalStage.filter((s) => s.instruction === 'WORKDIR').pop()?.args ?? '/';
/** What the final image holds from the repository: COPY (not --from) source → destination under WORKDIR. */
const imageCopies = finalStage.filter((s) => s.instruction === 'COPY' && !s.args.startsWith('--from')).flatMap((s) => {
  const words = s.args.split(/\s+/);
  const to = posix.resolve(workdir, words.pop()!);
  // several sources go into the destination folder, each under its own name
  return words.map((from) => ({ from, to: words.length > 1 ? posix.join(to, posix.basename(from)) : to }));
});

/** The services that run b2b-etl: the image the Dockerfile builds. */
const etlServices = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);

function argv(service: Service): string[] {
  if (!Array.isArray(service.command)) throw new Error('a b2b-etl service\'s command is a list of words (exec form), so the CLI reads each as given');
  return service.command.map(String);
}

function environment(service: Service): Record<string, string> {
  return Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v)]));
}

function dependsOn(service: Service): Record<string, string> {
  const d = service.depends_on ?? {};
  return Array.isArray(d) ? Object.fromEntries(d.map((name) => [name, 'service_started'])) : Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v.condition]));
}

/** Services a service waits for, directly or through others. */
function waitsFor(name: string, seen = new Set<string>()): Set<string> {
  for (const next of Object.keys(dependsOn(compose.services[name]!))) {
    if (!seen.has(next)) {
      seen.add(next);
      waitsFor(next, seen);
    }
  }
  return seen;
}

/** The service that listens at a URL's host; one the command needs is waited for. */
function expectReachable(from: string, host: string, what: string, needed: boolean): Service {
  const target = compose.services[host];
  expect(target, `${from}: ${what} names host ${host}, which is no service of the compose file`).toBeDefined();
  if (needed) expect(waitsFor(from).has(host), `${from}: ${what} names ${host}, which ${from} does not wait for (depends_on)`).toBe(true);
  return target!;
}

/** Whether a service's command needs a variable (VARIABLES). */
function needs(name: string, variable: string): boolean {
  const rule = VARIABLES[variable]!;
  return 'required' in rule && rule.required(parsed.get(name)!.words.join(' '), serviceConfig(name, compose.services[name]!).config);
}

/** The named volume a service mounts at `path` (or above it), and the path inside it. */
function volumeAt(service: Service, path: string): { volume: string; inside: string } | null {
  for (const entry of service.volumes ?? []) {
    const [volume, target] = entry.split(':') as [string, string];
    if (path === target || path.startsWith(`${target}/`)) return { volume, inside: path.slice(target.length) };
  }
  return null;
}

/** The config a service's b2b-etl runs with: B2B_ETL_CONFIG's file in the image, from the repository. */
function serviceConfig(name: string, service: Service): { config: Config; hostPath: string | null } {
  const path = environment(service).B2B_ETL_CONFIG;
  if (!path) return { config: { sources: {} }, hostPath: null };
  const absolute = posix.resolve(workdir, path);
  const hostPath = repositoryPathOf(absolute, imageCopies);
  expect(hostPath, `${name}: B2B_ETL_CONFIG ${path} is no file the Dockerfile copies into the image`).not.toBeNull();
  expect(existsSync(hostPath!), `${name}: B2B_ETL_CONFIG ${path} is ${relative(ROOT, hostPath!)} in the repository, which does not exist`).toBe(true);
  return { config: loadConfig(hostPath!), hostPath };
}

/** host:port a service's published port maps to inside it ("127.0.0.1:8443:8443" → 8443). */
function containerPorts(service: Service): number[] {
  return (service.ports ?? []).map((p) => Number(String(p).split(':').pop()));
}

const parsed = new Map<string, Parsed>();

describe('docker-compose.yml and the Dockerfile', () => {
  let manifest: ManifestFile[];
  let sampleDir: string;

  beforeAll(async () => {
    for (const [name, service] of etlServices) {
      const { hostPath } = serviceConfig(name, service);
      parsed.set(name, await parseCommand(argv(service), hostPath ? { B2B_ETL_CONFIG: hostPath } : {}).catch((e: Error) => {
        throw new Error(`service ${name}: b2b-etl ${argv(service).join(' ')}: ${e.message}`);
      }));
    }
    // what `generate` writes: its manifest names store B's files
    sampleDir = mkdtempSync(join(tmpdir(), 'b2b-etl-compose-'));
    manifest = (await generate({ out: sampleDir, scale: 'small', companies: 20, contacts: 40, storeACompanies: 10, storeAContacts: 10, events: 10 })).manifest;
  });

  afterAll(() => {
    if (sampleDir) rmSync(sampleDir, { recursive: true, force: true });
  });

  it('runs a real b2b-etl command in every service built from the Dockerfile, with options the CLI accepts', () => {
    expect(etlServices.map(([name]) => name).sort()).toEqual(expect.arrayContaining(['migrate', 'sandbox', 'worker']));
    const commands = [...parsed.values()].map((p) => p.words.join(' '));
    for (const needed of ['generate', 'migrate', 'registry import', 'land file', 'produce', 'sandbox', 'worker']) expect(commands).toContain(needed);
    // a command the CLI refuses is refused here too
    return expect(parseCommand(['wrker'], {})).rejects.toThrow(/unknown command 'wrker'/);
  });

  it('sets every environment variable the code reads for each command, with values the code accepts', () => {
    const read = variablesTheCodeReads();
    expect([...read].filter((name) => !(name in VARIABLES)), 'variables the code reads that this test does not know (add them to VARIABLES)').toEqual([]);
    for (const [name, service] of etlServices) {
      const command = parsed.get(name)!.words.join(' ');
      const env = environment(service);
      const { config } = serviceConfig(name, service);
      for (const [variable, rule] of Object.entries(VARIABLES)) {
        if ('required' in rule && rule.required(command, config)) expect(env[variable], `${name} (b2b-etl ${command}) needs ${variable}`).toBeTruthy();
      }
      // the code's own checks of each value
      if (env.MYSQL_URL) mysqlUrl(env);
      if (env.KAFKA_BROKERS) kafkaBrokers(env);
      if (env.BITRIX24_WEBHOOK_URL) parseWebhook(env.BITRIX24_WEBHOOK_URL);
      if (env.DATABASE_URL) expect(new URL(env.DATABASE_URL).protocol, `${name}: DATABASE_URL`).toMatch(/^postgres(ql)?:$/);
    }
  });

  it('wires hosts, ports and credentials to the services that have them', () => {
    for (const [name, service] of etlServices) {
      const env = environment(service);
      if (env.DATABASE_URL) {
        const url = new URL(env.DATABASE_URL);
        const postgres = environment(expectReachable(name, url.hostname, 'DATABASE_URL', needs(name, 'DATABASE_URL')));
        expect([url.port || '5432', decodeURIComponent(url.username), decodeURIComponent(url.password), url.pathname.slice(1)], `${name}: DATABASE_URL`)
          .toEqual(['5432', postgres.POSTGRES_USER, postgres.POSTGRES_PASSWORD, postgres.POSTGRES_DB]);
      }
      if (env.MYSQL_URL) {
        const url = new URL(env.MYSQL_URL);
        const mariadb = environment(expectReachable(name, url.hostname, 'MYSQL_URL', needs(name, 'MYSQL_URL')));
        expect([url.port || '3306', url.username, url.password, url.pathname.slice(1)], `${name}: MYSQL_URL`)
          .toEqual(['3306', mariadb.MARIADB_USER, mariadb.MARIADB_PASSWORD, mariadb.MARIADB_DATABASE]);
      }
      if (env.KAFKA_BROKERS) {
        for (const broker of kafkaBrokers(env)) {
          const host = broker.split(':')[0]!;
          const kafka = environment(expectReachable(name, host, 'KAFKA_BROKERS', needs(name, 'KAFKA_BROKERS')));
          const advertised = kafka.KAFKA_ADVERTISED_LISTENERS!.split(',').map((l) => l.replace(/^\w+:\/\//, ''));
          expect(advertised, `${name}: KAFKA_BROKERS ${broker} is no listener ${host} advertises`).toContain(broker);
          const listenerName = kafka.KAFKA_ADVERTISED_LISTENERS!.split(',').find((l) => l.endsWith(`//${broker}`))!.split(':')[0];
          expect(kafka.KAFKA_LISTENERS, `${name}: ${host} listens on ${listenerName}`).toMatch(new RegExp(`${listenerName}://[^,]*:${broker.split(':')[1]}(,|$)`));
        }
      }
      if (env.BITRIX24_WEBHOOK_URL) {
        const webhook = new URL(env.BITRIX24_WEBHOOK_URL);
        const sandbox = parsed.get(webhook.hostname);
        expectReachable(name, webhook.hostname, 'BITRIX24_WEBHOOK_URL', needs(name, 'BITRIX24_WEBHOOK_URL'));
        expect(sandbox?.words, `${name}: BITRIX24_WEBHOOK_URL names ${webhook.hostname}, which runs no sandbox portal`).toEqual(['sandbox']);
        expect([webhook.protocol, Number(webhook.port), webhook.pathname], `${name}: BITRIX24_WEBHOOK_URL against ${webhook.hostname}'s options`)
          .toEqual([sandbox!.options.http ? 'http:' : 'https:', sandbox!.options.port, `/rest/1/${String(sandbox!.options.secret)}/`]);
        // reached by its service name: it listens there, and its certificate names what it listens at
        expect(sandbox!.options.host, `${webhook.hostname} listens at the name ${name} calls it by`).toBe(webhook.hostname);
        if (webhook.protocol === 'https:') {
          // the certificate the sandbox makes in its --cert-dir, trusted by the pusher through crm.caFile
          const caFile = serviceConfig(name, service).config.crm?.caFile ?? env.NODE_EXTRA_CA_CERTS;
          expect(caFile, `${name} trusts the sandbox's self-signed certificate (crm.caFile)`).toBeTruthy();
          const certDir = posix.resolve(workdir, String(sandbox!.options.certDir ?? '.data/sandbox'));
          const made = volumeAt(compose.services[webhook.hostname]!, posix.join(certDir, 'sandbox-cert.pem'));
          const trusted = volumeAt(service, posix.resolve(workdir, caFile!));
          expect(made, `${webhook.hostname} keeps its certificate in a volume`).not.toBeNull();
          expect(trusted, `${name}: crm.caFile ${caFile} is the file ${webhook.hostname} writes`).toEqual(made);
        }
      }
    }
    // published ports lead to what listens inside
    const listening: Record<string, number[]> = { postgres: [5432], mysql: [3306] };
    const kafka = environment(compose.services.kafka!);
    listening.kafka = kafka.KAFKA_LISTENERS!.split(',').map((l) => Number(l.split(':').pop()));
    for (const [name, p] of parsed) {
      if (p.words[0] === 'sandbox') listening[name] = [Number(p.options.port)];
      if (p.words[0] === 'worker') {
        const w = workerConfig(serviceConfig(name, compose.services[name]!).config);
        expect(w.host, `${name}: worker.host, so its published port and healthcheck reach it`).toBe('0.0.0.0');
        listening[name] = [w.port];
        expect(JSON.stringify(compose.services[name]!.healthcheck?.test), `${name}: the healthcheck asks /healthz on worker.port`).toContain(`:${w.port}/healthz`);
      }
    }
    for (const [name, service] of Object.entries(compose.services)) {
      for (const port of containerPorts(service)) expect(listening[name] ?? [], `${name}: published port ${port} is not where it listens`).toContain(port);
    }
  });

  it('starts each service after what it needs: healthchecks for servers, completed one-shot steps', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const [target, condition] of Object.entries(dependsOn(service))) {
        const other = compose.services[target];
        expect(other, `${name} depends on ${target}, which is no service`).toBeDefined();
        expect(['service_healthy', 'service_completed_successfully'], `${name} → ${target}`).toContain(condition);
        if (condition === 'service_healthy') expect(other!.healthcheck, `${name} waits for ${target} to be healthy: it needs a healthcheck`).toBeDefined();
        if (condition === 'service_completed_successfully') expect(other!.restart, `${target} is a one-shot step ${name} waits for`).toBeUndefined();
      }
    }
    for (const [name, p] of parsed) {
      // everything but the sample and the sandbox (its own schema) needs the migrated warehouse
      if (!['generate', 'migrate', 'sandbox', 'produce'].includes(p.words[0]!)) expect(waitsFor(name).has('migrate'), `${name} waits for migrate`).toBe(true);
    }
    // registry checks read the snapshot: the worker starts after it is imported
    const importer = [...parsed].find(([, p]) => p.words.join(' ') === 'registry import')![0];
    const worker = [...parsed].find(([, p]) => p.words[0] === 'worker')![0];
    expect(waitsFor(worker).has(importer)).toBe(true);
    const named = new Set(Object.keys(compose.volumes ?? {}));
    for (const [name, service] of Object.entries(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('.') || source.startsWith('/')) expect(existsSync(join(ROOT, source)), `${name}: bind mount ${source} exists in the repository`).toBe(true);
        else expect(named.has(source), `${name}: volume ${source} is declared`).toBe(true);
      }
    }
  });

  it('lands, checks and pushes the generated sample: the files generate writes, store A\'s dump in MariaDB, the events in the worker\'s topic', () => {
    const byCommand = (words: string) => [...parsed].filter(([, p]) => p.words.join(' ') === words);
    const [[generator, generated]] = byCommand('generate') as [[string, Parsed]];
    const out = String(generated.options.out);
    // the sample volume: where generate writes, and where the others read
    const sampleVolume = compose.services[generator]!.volumes!.find((v) => v.split(':')[1] === out)?.split(':')[0];
    expect(sampleVolume, `${generator}: --out ${out} is a volume`).toBeDefined();
    const mounted = (name: string) => (compose.services[name]!.volumes ?? []).some((v) => v.startsWith(`${sampleVolume}:${out}`));

    // store A: MariaDB runs the dump's .sql on first start and nothing else the generator writes
    const mariadb = compose.services.mysql!;
    const initdb = mariadb.volumes!.find((v) => v.startsWith(`${sampleVolume}:`))?.split(':')[1];
    expect(initdb).toBe('/docker-entrypoint-initdb.d');
    expect(Object.keys(dependsOn(mariadb))).toContain(generator);
    const written = readdirSync(sampleDir);
    expect(written).toContain(STORE_A_DUMP);
    expect(written.filter((f) => /\.(sh|sql|sql\.(gz|xz|zst))$/.test(f))).toEqual([STORE_A_DUMP]);

    // store B's files: one land file per file of generate's manifest, as demo lands them
    const lands = byCommand('land file');
    expect(lands.map(([, p]) => p.args[0]).sort()).toEqual(manifest.map((f) => posix.join(out, f.file)).sort());
    for (const file of manifest) {
      const [name, land] = lands.find(([, p]) => p.args[0] === posix.join(out, file.file))!;
      expect(mounted(name), `${name} mounts the sample`).toBe(true);
      expect(waitsFor(name).has(generator)).toBe(true);
      const { config } = serviceConfig(name, compose.services[name]!);
      expect([land.options.source, land.options.entity, land.options.encoding ?? config.sources[file.source]?.encoding ?? 'utf8', land.options.path], name)
        .toEqual([file.source, file.entity, file.encoding, file.jsonPath]);
      // the fields the generator writes its keys and change times in (generate/land-manifest.ts)
      expect(recordFields(config, file.source, parseEntity(file.entity)), `${name}: the config's fields of ${file.source} ${file.entity}`)
        .toMatchObject({ key: 'id', updated: 'updated' });
    }

    const [[importer, registry]] = byCommand('registry import') as [[string, Parsed]];
    expect(registry.args[0]).toBe(posix.join(out, REGISTRY_SNAPSHOT));
    expect(mounted(importer) && waitsFor(importer).has(generator)).toBe(true);

    // the worker: store A's sync, store B's consumer on the topic the events are sent to
    const [[workerName]] = byCommand('worker') as [[string, Parsed]];
    const { config } = serviceConfig(workerName, compose.services[workerName]!);
    const w = workerConfig(config);
    const mysqlSources = Object.keys(w.sync);
    expect(mysqlSources).toEqual(['store_a']);
    expect(isMysqlSource(config, 'store_a')).toBe(true);
    const [[producer, produce]] = byCommand('produce') as [[string, Parsed]];
    expect(produce.args[0]).toBe(posix.join(out, STORE_B_EVENTS));
    expect(mounted(producer) && waitsFor(producer).has(generator)).toBe(true);
    expect(w.consume).toContain(produce.options.source);
    const producerConfig = serviceConfig(producer, compose.services[producer]!).config;
    expect(kafkaSource(producerConfig, String(produce.options.source), { topic: produce.options.topic as string | undefined }).topic)
      .toBe(kafkaSource(config, String(produce.options.source)).topic);
    expect(environment(compose.services[producer]!).KAFKA_BROKERS).toBe(environment(compose.services[workerName]!).KAFKA_BROKERS);
    // one config for every b2b-etl service
    expect(new Set(etlServices.map(([, s]) => environment(s).B2B_ETL_CONFIG)).size).toBe(1);
  });

  it('builds the image as the README does: multi-stage, Node 20, npm ci, a user that is not root', () => {
    expect(stages.length, 'stages (FROM)').toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage[0]!.args.split(/\s+/)[0], 'every stage on Node 20').toMatch(/^node:20([.-]|$)/);
    const users = finalStage.filter((s) => s.instruction === 'USER').map((s) => s.args.split(':')[0]);
    expect(users.length, 'the image runs as a USER of its own').toBeGreaterThan(0);
    expect(['root', '0']).not.toContain(users[users.length - 1]);
    // npm as the README runs it: each npm command of the Dockerfile is one the README gives
    const npm = dockerfile.filter((s) => s.instruction === 'RUN').flatMap((s) => s.args.split(/&&|;/)).map((c) => c.trim()).filter((c) => c.startsWith('npm '));
    expect(npm.length).toBeGreaterThan(0);
    const shown = (c: string) => c.replace(/ --no-audit --no-fund$/, '');
    for (const command of npm) expect(readme, `the README gives \`${shown(command)}\``).toContain(shown(command));
    expect(npm.map(shown), 'the quick start\'s npm ci, which builds dist/ (prepare)').toContain('npm ci');
    // the entrypoint is the CLI the build makes (package.json bin), in the working directory
    const entrypoint = JSON.parse(finalStage.filter((s) => s.instruction === 'ENTRYPOINT').pop()!.args) as string[];
    expect(entrypoint).toEqual(['node', packageJson.bin['b2b-etl']]);
    const built = finalStage.find((s) => s.instruction === 'COPY' && s.args.startsWith('--from'))!.args.split(/\s+/);
    expect(posix.resolve(workdir, packageJson.bin['b2b-etl']!).startsWith(posix.resolve(workdir, built[2]!))).toBe(true);
    for (const copy of imageCopies) if (copy.from !== '.') expect(existsSync(join(ROOT, copy.from)), `COPY ${copy.from}`).toBe(true);
    // what the CLI reads at run time is in the image
    for (const needed of ['sql', 'migrations', 'package.json', 'src/sandbox/schema']) {
      expect(repositoryPathOf(posix.join(workdir, needed), imageCopies), `the image holds ${needed}`).not.toBeNull();
    }
    for (const [name, service] of etlServices) {
      expect(service.build === '.' || (typeof service.build === 'object' && service.build.context === '.'), `${name} is built from the Dockerfile`).toBe(true);
      expect(service.entrypoint, `${name} keeps the image's entrypoint`).toBeUndefined();
    }
    expect(readme).toContain('docker compose up');
  });
});
