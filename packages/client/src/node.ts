/** Node entry: everything from the browser entry, plus the file store (CLIs, worker processes). */
export * from "./index.js";
export { fileStore, type FileStoreOptions } from "./file-store.js";
