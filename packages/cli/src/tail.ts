import { randomBytes } from 'node:crypto';
import { EmbeddedLog, commonOptions, createKafka, createLogger, createSchemaRegistry, embeddedOptions, headerStrings, loadConfig, modeOf } from '@badgestream/platform';

export interface TailOptions {
  topic: string;
  fromBeginning: boolean;
  tenant?: string;
  limit?: number;
  /** Stop after this long without a matching record (0: follow forever). */
  idleMs: number;
}

/**
 * Prints records of a Badgestream topic as JSON lines (key, headers, value decoded
 * through the schema registry), like a console consumer that knows the framing.
 * It reads with a throw-away consumer group and commits nothing.
 */
export async function tailTopic(options: TailOptions, write: (line: string) => void): Promise<number> {
  if (modeOf(process.env) === 'embedded') return tailJournal(options, write);
  const config = loadConfig({ kafkaBrokers: commonOptions.kafkaBrokers, schemaRegistryUrl: commonOptions.schemaRegistryUrl });
  const kafka = createKafka({ brokers: config.kafkaBrokers, clientId: 'badgestream-cli', logger: createLogger('cli', 'error') });
  const registry = createSchemaRegistry(config.schemaRegistryUrl);
  const consumer = kafka.consumer({ groupId: `badgestream-tail-${randomBytes(6).toString('hex')}` });
  let printed = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let idleTimer: NodeJS.Timeout | undefined;
  const armIdle = () => {
    if (options.idleMs <= 0) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(finish, options.idleMs);
  };
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: options.topic, fromBeginning: options.fromBeginning });
    armIdle();
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        if (options.limit !== undefined && printed >= options.limit) return;
        // Idle means no record at all: going through other tenants' records is not idle.
        armIdle();
        const headers = headerStrings(message.headers);
        if (options.tenant && headers['badgestream-tenant'] !== options.tenant) return;
        const value = message.value ? await registry.decode(message.value) : null;
        write(JSON.stringify({ partition, offset: message.offset, key: message.key?.toString() ?? null, headers, value }));
        printed++;
        if (options.limit !== undefined && printed >= options.limit) finish();
      },
    });
    await finished;
  } finally {
    clearTimeout(idleTimer);
    await consumer.disconnect();
  }
  return printed;
}

/**
 * The same over the embedded mode's event journal in BADGESTREAM_DATA_DIR, read beside the
 * process that writes it (values are the JSON that was published).
 */
async function tailJournal(options: TailOptions, write: (line: string) => void): Promise<number> {
  const { dataDir } = loadConfig(embeddedOptions);
  const position = { byte: 0, offsets: new Map<string, number>() };
  // Without --from-beginning, only what is written from now on.
  if (!options.fromBeginning) position.byte = EmbeddedLog.readJournal(dataDir, position).byte;
  let printed = 0;
  let idleSince = Date.now();
  for (;;) {
    const { records, byte } = EmbeddedLog.readJournal(dataDir, position);
    position.byte = byte;
    if (records.length > 0) idleSince = Date.now();
    for (const r of records) {
      if (r.topic !== options.topic || (options.tenant && r.headers['badgestream-tenant'] !== options.tenant)) continue;
      write(JSON.stringify({ partition: r.partition, offset: String(r.offset), key: r.key, headers: r.headers, value: JSON.parse(r.value.toString('utf8')) as unknown }));
      idleSince = Date.now();
      if (options.limit !== undefined && ++printed >= options.limit) return printed;
    }
    if (options.idleMs > 0 && Date.now() - idleSince >= options.idleMs) return printed;
    await new Promise((r) => setTimeout(r, 200));
  }
}
