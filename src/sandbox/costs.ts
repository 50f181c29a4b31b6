/**
 * Simulated operating time per imported item from the docs' only example: 2.38 s for two deals
 * (crm-item-batch-import.md). At this cost the per-method limit (480 s per 10 min) lets about
 * 400 items an import method through each 10 minutes.
 */
export const DOCS_IMPORT_ITEM_SECONDS = 1.19;

/** What `b2b-etl sandbox` charges per imported item unless told: a first try of a small sample takes seconds, not hours. */
export const TRYING_IMPORT_ITEM_SECONDS = 0.01;
