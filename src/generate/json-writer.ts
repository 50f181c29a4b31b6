import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import iconv from 'iconv-lite';

/**
 * Writes a JSON array of records to a file as it goes (one record a line), optionally
 * nested in an object (`{"exported_at": ..., "contacts": [...]}`) and in Windows-1251.
 */
export class JsonArrayFile {
  private readonly out: WriteStream;
  private buffer = '';
  private first = true;
  count = 0;

  constructor(
    readonly path: string,
    private readonly encoding: 'utf8' | 'cp1251' = 'utf8',
    private readonly wrapper?: { key: string; header: Record<string, unknown> },
  ) {
    this.out = createWriteStream(path);
    if (wrapper) {
      const header = JSON.stringify(wrapper.header).slice(0, -1);
      this.buffer = `${header}${header.length > 1 ? ',' : ''}"${wrapper.key}":[\n`;
    } else {
      this.buffer = '[\n';
    }
  }

  async add(record: unknown): Promise<void> {
    this.buffer += (this.first ? '' : ',\n') + JSON.stringify(record);
    this.first = false;
    this.count += 1;
    if (this.buffer.length > 1 << 20) await this.flush();
  }

  async close(): Promise<void> {
    this.buffer += this.wrapper ? '\n]}\n' : '\n]\n';
    await this.flush();
    this.out.end();
    await once(this.out, 'finish');
  }

  private async flush(): Promise<void> {
    const bytes = this.encoding === 'cp1251' ? iconv.encode(this.buffer, 'win1251') : Buffer.from(this.buffer, 'utf8');
    this.buffer = '';
    if (!this.out.write(bytes)) await once(this.out, 'drain');
  }
}
