/**
 * The store cannot be used as it is (damaged, unwritable, held by another process): start-up stops with
 * this message, which names the file or database and what to do, instead of a stack trace.
 */
export class StoreUnusableError extends Error {
  override name = 'StoreUnusableError';
}

/** SettingsStore.update of a setting that was never created. */
export class SettingNotFoundError extends Error {
  readonly code = 'ERR_SETTING_NOT_FOUND';
  constructor(readonly setting: string) {
    super(`there is no setting ${setting} yet`);
  }
}
