import { chromium, type BrowserContext } from 'playwright-core';
import { tempDir } from './temp-dir.ts';

/**
 * Debian's Chromium (`/usr/bin/chromium`, which `.ci/run` installs), headless, on a fresh profile.
 * The background-networking flags keep it from calling Google's hosts, which this machine's
 * closed network refuses.
 */
export const CHROMIUM = process.env.REEVE_CHROMIUM ?? '/usr/bin/chromium';

export async function openBrowser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = tempDir('reeve-chromium-');
  const context = await chromium.launchPersistentContext(profile.path, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1360, height: 860 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    close: async () => {
      await context.close();
      profile.remove();
    },
  };
}
