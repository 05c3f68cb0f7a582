'use strict';
// Reads the client's request body in the access phase (kong.request.getRawBody) and tells the
// upstream what it got in `x-raw-body`: "length:<n>" or "error:<the PDK's error>".

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async access(kong) {
    let seen;
    try {
      const body = await kong.request.getRawBody();
      seen = `length:${body.length}`;
    } catch (e) {
      seen = `error:${e.message}`;
    }
    await kong.service.request.setHeader('x-raw-body', seen);
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [],
  Version: '1.0.0',
  Priority: 900,
};
