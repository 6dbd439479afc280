export default async function globalTeardown() {
  const state = globalThis.__BW_TEST__;
  if (!state) return;
  state.redis.kill('SIGTERM');
  await state.pg.stop();
}
