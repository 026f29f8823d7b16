// RFC 6238 TOTP codes for the browser tests, computed from the secret an enrolment page shows,
// as an authenticator app would. The server accepts a code for the step before or after its own
// (±1) but never a step at or before the last one it accepted (RFC 6238 §5.2), so each
// Authenticator hands out strictly increasing steps and waits when it has run ahead.
import { createHmac } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

// RFC 4648 base32, padding and spaces ignored, case-insensitive.
export function base32Decode(text) {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of clean) {
    const index = BASE32.indexOf(ch);
    if (index < 0) throw new Error(`"${ch}" is not a base32 character (in "${text}")`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// RFC 4226 §5.3 HOTP for the counter `step`; RFC 6238 names the hashes SHA1, SHA256, SHA512.
export function totpCode(key, step, { digits = 6, algorithm = 'SHA1' } = {}) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac(algorithm.toLowerCase(), key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits;
  return String(binary).padStart(digits, '0');
}

// The parameters of an otpauth:// URI (Key Uri Format): secret, digits, period, algorithm.
export function parseOtpauth(uri) {
  const url = new URL(uri);
  const params = url.searchParams;
  return {
    secret: params.get('secret'),
    digits: Number(params.get('digits') || 6),
    period: Number(params.get('period') || 30),
    algorithm: (params.get('algorithm') || 'SHA1').toUpperCase(),
  };
}

export class Authenticator {
  constructor({ secret, digits = 6, period = 30, algorithm = 'SHA1' }) {
    this.key = base32Decode(secret);
    this.digits = digits;
    this.period = period;
    this.algorithm = algorithm;
    this.lastStep = -1;
  }

  currentStep() {
    return Math.floor(Date.now() / 1000 / this.period);
  }

  // The code for the next unspent step that is the current one or the one after it: either is
  // still inside the server's window if a step boundary passes while the request travels.
  async nextCode() {
    for (;;) {
      const current = this.currentStep();
      const step = Math.max(this.lastStep + 1, current);
      if (step <= current + 1) {
        this.lastStep = step;
        return totpCode(this.key, step, { digits: this.digits, algorithm: this.algorithm });
      }
      const waitMs = (step - 1) * this.period * 1000 - Date.now() + 50;
      await new Promise((resolve) => setTimeout(resolve, Math.max(waitMs, 50)));
    }
  }
}
