// Writes docs/protocol/*.json from src/protocol/messages.ts. Run: npm run protocol
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { protocolJsonSchemas } from '../src/protocol/messages.ts';

const dir = fileURLToPath(new URL('../docs/protocol/', import.meta.url));
mkdirSync(dir, { recursive: true });
for (const [file, text] of Object.entries(protocolJsonSchemas())) writeFileSync(join(dir, file), text);
console.log(`wrote ${Object.keys(protocolJsonSchemas()).length} schemas to ${dir}`);
