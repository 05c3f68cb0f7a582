'use strict';
// PDK coverage (tests/integration/test_js_pdk.py), JavaScript: every getter about the client's
// request, the client, the route and the node, read in `access` and returned to the client as the
// JSON body of kong.response.exit (a table body). Each value is one PDK call.

// A value the client can read back: Buffers (MessagePack bin) become text.
function plain(value) {
  return Buffer.isBuffer(value) ? value.toString('utf8') : value;
}

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async access(kong) {
    const r = {};
    const read = async (name, call) => {
      r[name] = plain(await call());
    };
    // kong.request
    await read('scheme', () => kong.request.getScheme());
    await read('host', () => kong.request.getHost());
    await read('port', () => kong.request.getPort());
    await read('forwarded_scheme', () => kong.request.getForwardedScheme());
    await read('forwarded_host', () => kong.request.getForwardedHost());
    await read('forwarded_port', () => kong.request.getForwardedPort());
    await read('forwarded_path', () => kong.request.getForwardedPath());
    await read('forwarded_prefix', () => kong.request.getForwardedPrefix());
    await read('http_version', () => kong.request.getHttpVersion());
    await read('method', () => kong.request.getMethod());
    await read('path', () => kong.request.getPath());
    await read('raw_path', () => kong.request.getRawPath());
    await read('path_with_query', () => kong.request.getPathWithQuery());
    await read('raw_query', () => kong.request.getRawQuery());
    await read('query', () => kong.request.getQuery());
    await read('query_arg', () => kong.request.getQueryArg('b'));
    await read('header', () => kong.request.getHeader('x-one'));
    await read('headers', () => kong.request.getHeaders());
    await read('raw_body', () => kong.request.getRawBody());
    await read('body', () => kong.request.getBody());
    await read('uri_captures', () => kong.request.getUriCaptures());
    await read('start_time', () => kong.request.getStartTime());
    // kong.client: the TCP peer, after trusted_ips/real_ip_header, and consumers
    await read('client_ip', () => kong.client.getIp());
    await read('client_forwarded_ip', () => kong.client.getForwardedIp());
    await read('client_port', () => kong.client.getPort());
    await read('client_forwarded_port', () => kong.client.getForwardedPort());
    await read('client_protocol', () => kong.client.getProtocol(true));
    await read('consumer_before', () => kong.client.getConsumer());
    await read('loaded_by_id', () => kong.client.loadConsumer(this.config.consumer_id));
    await read('loaded_by_username', () => kong.client.loadConsumer(this.config.consumer_username, true));
    await read('authenticate', () =>
      kong.client.authenticate(r.loaded_by_id, { id: 'cred-1', consumer: { id: r.loaded_by_id.id } }));
    await read('consumer', () => kong.client.getConsumer());
    await read('credential', () => kong.client.getCredential());
    // kong.router
    await read('route', () => kong.router.getRoute());
    await read('service', () => kong.router.getService());
    // kong.ctx.shared and kong.nginx ctx: a value set is read back
    await kong.ctx.shared.set('shared-key', { n: 1 });
    await read('ctx_shared', () => kong.ctx.shared.get('shared-key'));
    await kong.nginx.setCtx('ngx-key', 'ngx-value');
    await read('nginx_ctx', () => kong.nginx.getCtx('ngx-key'));
    // kong.nginx
    await read('var_request_uri', () => kong.nginx.getVar('request_uri'));
    await read('var_remote_addr', () => kong.nginx.getVar('remote_addr'));
    await read('var_http_x_one', () => kong.nginx.getVar('http_x_one'));
    await read('subsystem', () => kong.nginx.getSubsystem());
    await read('tls1_version', () => kong.nginx.get_tls1_version_str());
    await read('tls1_version_js_alias', () => kong.nginx.getTls1VersionStr());
    await read('req_start_time', () => kong.nginx.reqStartTime());
    // kong.node, kong.ip, kong.plugin, kong.cluster
    await read('node_id', () => kong.node.getId());
    await read('hostname', () => kong.node.getHostname());
    await read('memory_stats', () => kong.node.getMemoryStats());
    await read('trusted_local', () => kong.ip.isTrusted('127.0.0.1'));
    await read('trusted_other', () => kong.ip.isTrusted('192.0.2.1'));
    await read('plugin_id', () => kong.plugin.getId());
    await read('cluster_id', () => kong.cluster.getId());
    return kong.response.exit(200, r, { 'x-pdk-plugin': 'pdk-request' });
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [
    { consumer_id: { type: 'string', required: true } },
    { consumer_username: { type: 'string', required: true } },
  ],
  Version: '1.0.0',
  Priority: 1000,
};
