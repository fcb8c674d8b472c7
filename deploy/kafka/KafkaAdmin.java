import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * Small admin helper for the local broker, run by deploy/kafka/broker and deploy/kafka/topics
 * (one JVM for all topics instead of one TopicCommand JVM per topic).
 *
 * <pre>
 *   KafkaAdmin ready  BOOTSTRAP SECONDS   wait until a metadata call (describeCluster) answers
 *   KafkaAdmin create BOOTSTRAP TOPICS.tsv create missing topics, align retention.ms
 *   KafkaAdmin list   BOOTSTRAP            topic, partitions, retention.ms
 * </pre>
 */
public final class KafkaAdmin {
  private static final short REPLICATION_FACTOR = 1;

  record TopicSpec(String name, int partitions, long retentionMs) {}

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      usage();
    }
    String bootstrap = args[1];
    int code =
        switch (args[0]) {
          case "ready" -> ready(bootstrap, args.length > 2 ? Integer.parseInt(args[2]) : 60);
          case "create" -> {
            if (args.length < 3) {
              usage();
            }
            yield create(bootstrap, readTable(Path.of(args[2])));
          }
          case "list" -> list(bootstrap);
          default -> {
            usage();
            yield 2;
          }
        };
    System.exit(code);
  }

  private static void usage() {
    System.err.println(
        "usage: KafkaAdmin ready BOOTSTRAP [SECONDS] | create BOOTSTRAP TOPICS.tsv | list BOOTSTRAP");
    System.exit(2);
  }

  private static Admin admin(String bootstrap) {
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(AdminClientConfig.CLIENT_ID_CONFIG, "fupin-deploy");
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "15000");
    props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
    return Admin.create(props);
  }

  private static <T> T get(KafkaFuture<T> future) throws Exception {
    try {
      return future.get(30, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      throw cause instanceof Exception ex ? ex : e;
    }
  }

  static List<TopicSpec> readTable(Path path) throws IOException {
    List<TopicSpec> specs = new ArrayList<>();
    int lineNo = 0;
    for (String line : Files.readAllLines(path, StandardCharsets.UTF_8)) {
      lineNo++;
      String trimmed = line.strip();
      if (trimmed.isEmpty() || trimmed.startsWith("#")) {
        continue;
      }
      String[] cols = trimmed.split("\t");
      if (cols.length != 3) {
        throw new IllegalArgumentException(path + ":" + lineNo + ": expected 3 tab-separated columns");
      }
      if (cols[0].equals("topic")) {
        continue; // header
      }
      specs.add(new TopicSpec(cols[0], Integer.parseInt(cols[1]), Long.parseLong(cols[2])));
    }
    return specs;
  }

  static int ready(String bootstrap, int seconds) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    Exception last = null;
    try (Admin admin = admin(bootstrap)) {
      while (System.nanoTime() < deadline) {
        try {
          DescribeClusterResult cluster = admin.describeCluster();
          int nodes = get(cluster.nodes()).size();
          String id = get(cluster.clusterId());
          get(admin.listTopics().names());
          if (nodes > 0) {
            System.out.println("ready: cluster " + id + ", " + nodes + " node(s)");
            return 0;
          }
        } catch (Exception e) {
          last = e;
        }
        Thread.sleep(250);
      }
    }
    System.err.println(
        "not ready after " + seconds + "s: " + (last == null ? "no broker node" : last.toString()));
    return 1;
  }

  static int create(String bootstrap, List<TopicSpec> specs) throws Exception {
    try (Admin admin = admin(bootstrap)) {
      Set<String> existing = get(admin.listTopics().names());
      List<NewTopic> missing = new ArrayList<>();
      List<TopicSpec> present = new ArrayList<>();
      for (TopicSpec spec : specs) {
        if (existing.contains(spec.name())) {
          present.add(spec);
        } else {
          missing.add(
              new NewTopic(spec.name(), spec.partitions(), REPLICATION_FACTOR)
                  .configs(Map.of(TopicConfig.RETENTION_MS_CONFIG, Long.toString(spec.retentionMs()))));
        }
      }
      List<String> created = new ArrayList<>();
      if (!missing.isEmpty()) {
        Map<String, KafkaFuture<Void>> results = admin.createTopics(missing).values();
        for (Map.Entry<String, KafkaFuture<Void>> result : results.entrySet()) {
          try {
            get(result.getValue());
            created.add(result.getKey());
          } catch (TopicExistsException e) {
            present.add(specs.stream().filter(s -> s.name().equals(result.getKey())).findFirst().get());
          }
        }
      }
      Collections.sort(created);
      int problems = alignExisting(admin, present);
      System.out.println(
          "topics: " + specs.size() + " in the table, " + created.size() + " created"
              + (created.isEmpty() ? "" : " " + created) + ", " + present.size() + " already present");
      return problems == 0 ? 0 : 1;
    }
  }

  /** Existing topics: retention.ms is brought in line; a partition count that differs is reported. */
  private static int alignExisting(Admin admin, List<TopicSpec> present) throws Exception {
    if (present.isEmpty()) {
      return 0;
    }
    List<String> names = present.stream().map(TopicSpec::name).toList();
    Map<String, TopicDescription> descriptions = get(admin.describeTopics(names).allTopicNames());
    Map<ConfigResource, Config> configs = get(admin.describeConfigs(resources(names)).all());
    Map<ConfigResource, Collection<AlterConfigOp>> changes = new LinkedHashMap<>();
    int problems = 0;
    for (TopicSpec spec : present) {
      int partitions = descriptions.get(spec.name()).partitions().size();
      if (partitions != spec.partitions()) {
        System.err.println(
            "WARNING: topic " + spec.name() + " has " + partitions + " partitions, the table says "
                + spec.partitions() + " (not changed automatically: it moves keys between partitions)");
        problems++;
      }
      ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, spec.name());
      ConfigEntry retention = configs.get(resource).get(TopicConfig.RETENTION_MS_CONFIG);
      String want = Long.toString(spec.retentionMs());
      if (retention == null || !want.equals(retention.value())) {
        changes.put(
            resource,
            List.of(
                new AlterConfigOp(
                    new ConfigEntry(TopicConfig.RETENTION_MS_CONFIG, want), AlterConfigOp.OpType.SET)));
        System.out.println("topic " + spec.name() + ": retention.ms set to " + want);
      }
    }
    if (!changes.isEmpty()) {
      get(admin.incrementalAlterConfigs(changes).all());
    }
    return problems;
  }

  private static List<ConfigResource> resources(List<String> names) {
    return names.stream().map(n -> new ConfigResource(ConfigResource.Type.TOPIC, n)).toList();
  }

  static int list(String bootstrap) throws Exception {
    try (Admin admin = admin(bootstrap)) {
      Set<String> names = get(admin.listTopics().names());
      if (names.isEmpty()) {
        return 0;
      }
      List<String> sorted = new ArrayList<>(names);
      Collections.sort(sorted);
      Map<String, TopicDescription> descriptions = get(admin.describeTopics(sorted).allTopicNames());
      Map<ConfigResource, Config> configs = get(admin.describeConfigs(resources(sorted)).all());
      System.out.println("topic\tpartitions\tretention_ms");
      for (String name : sorted) {
        ConfigEntry retention =
            configs
                .get(new ConfigResource(ConfigResource.Type.TOPIC, name))
                .get(TopicConfig.RETENTION_MS_CONFIG);
        System.out.println(
            name + "\t" + descriptions.get(name).partitions().size() + "\t"
                + (retention == null ? "?" : retention.value()));
      }
      return 0;
    }
  }
}
