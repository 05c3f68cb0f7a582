'use strict';
// Authenticates the consumer named by the x-user header (tests/integration/test_floor_plugins.py):
// kong.client.load_consumer + kong.client.authenticate, as an auth plugin does.
class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async access(kong) {
    const user = await kong.request.getHeader('x-user');
    if (!user) return;
    const consumer = await kong.client.loadConsumer(user, true);
    if (!consumer) return kong.response.exit(401, JSON.stringify({ message: 'unknown consumer' }));
    await kong.client.authenticate(consumer, { id: 'cred-' + user, consumer: { id: consumer.id } });
  }
}

module.exports = { Plugin: KongPlugin, Schema: [], Version: '1.0.0', Priority: 1000 };
