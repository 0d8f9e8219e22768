/** Where the built dashboard is, for ingest to serve at `/` (built by `npm run build`: scripts/build.mjs). */
import { fileURLToPath } from 'node:url';

export const DASHBOARD_DIR = fileURLToPath(new URL('../app/', import.meta.url));
