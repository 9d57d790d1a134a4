/**
 * Ref entry keys as a new trunk (the current format) writes them, for tests that name
 * keys. A test of another format takes its layout from `refLayout` (src/trunk/layout.ts).
 */
import { FORMAT, refLayout } from "../src/trunk/layout.ts";

export const layout = refLayout(FORMAT);
export const refEntryKey = layout.entryKey;
export const parseRefEntryKey = layout.parse;
