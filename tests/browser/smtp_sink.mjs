// A real SMTP listener for the browser tests: accepts every mail on 127.0.0.1 (plain SMTP, no
// AUTH, no STARTTLS — Gatehouse allows plain SMTP to loopback only) and keeps each one on disk:
//   DIR/NNNN.eml   the message as received
//   DIR/NNNN.json  {seq, from, to[], subject, text, html, receivedAt}, written after the .eml and
//                  renamed into place, so a reader never sees half a file
// Once it listens it writes its port to DIR/port (same rename), which run.sh waits for.
// usage: node smtp_sink.mjs DIR [PORT]   (PORT 0 or absent: a free port)
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

const [dir, portArg] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node smtp_sink.mjs DIR [PORT]');
  process.exit(2);
}
mkdirSync(dir, { recursive: true });

function writeAtomically(path, data) {
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
}

let seq = 0;
const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['AUTH', 'STARTTLS'],
  logger: false,
  size: 10 * 1024 * 1024,
  onData(stream, session, callback) {
    const chunks = [];
    stream.on('data', (chunk) => chunks.push(chunk));
    stream.on('error', callback);
    stream.on('end', async () => {
      try {
        const raw = Buffer.concat(chunks);
        const parsed = await simpleParser(raw);
        const n = String(++seq).padStart(4, '0');
        writeAtomically(join(dir, `${n}.eml`), raw);
        const record = {
          seq,
          envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
          envelopeTo: session.envelope.rcptTo.map((r) => r.address),
          from: parsed.from ? parsed.from.text : null,
          to: parsed.to ? [].concat(parsed.to).flatMap((a) => a.value.map((v) => v.address)) : [],
          subject: parsed.subject ?? '',
          text: parsed.text ?? '',
          html: typeof parsed.html === 'string' ? parsed.html : '',
          receivedAt: new Date().toISOString(),
        };
        writeAtomically(join(dir, `${n}.json`), JSON.stringify(record, null, 2));
        console.log(`smtp sink: #${seq} to ${record.envelopeTo.join(',')}: ${record.subject}`);
        callback();
      } catch (err) {
        console.error(`smtp sink: could not store a mail: ${err.stack || err}`);
        callback(new Error('could not store the message'));
      }
    });
  },
});
server.on('error', (err) => console.error(`smtp sink: ${err.stack || err}`));

server.listen(Number(portArg || 0), '127.0.0.1', () => {
  const { port } = server.server.address();
  writeAtomically(join(dir, 'port'), String(port));
  console.log(`smtp sink: listening on 127.0.0.1:${port}, mails in ${dir}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
