// s3rver in its own process, started by s3rverServer.ts with --openssl-legacy-provider: s3rver encrypts
// ListObjectsV2 continuation tokens with DES, which Node 20's OpenSSL 3 offers only through the legacy
// provider (without it every truncated listing answers 500 InternalError).
// Arguments: <directory> [bucket…]. Prints `listening <port>` once it accepts connections.
import S3rver from 's3rver';

const [directory, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory,
  configureBuckets: buckets.map((name) => ({ name, configs: [] })),
});
const { port } = await server.run();
process.stdout.write(`listening ${port}\n`);
process.on('SIGTERM', () => {
  server.close().then(() => process.exit(0));
});
