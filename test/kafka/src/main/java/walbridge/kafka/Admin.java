/*
 * Admin.java
 *		The few admin requests walbridge's tests make of a real Kafka
 *		broker, in one JVM per call: test/kafka/broker runs it.
 *
 * Usage: Admin BOOTSTRAP create TOPIC[:KEY=VALUE,...]...
 *			creates each topic (one partition, replication factor 1 unless
 *			the keys "partitions" or "replication.factor" say otherwise;
 *			other keys are topic configs such as retention.bytes), then
 *			waits until the broker serves each with a leader
 *		Admin BOOTSTRAP ready [TOPIC[:KEY=VALUE,...]...]
 *			the same, after one idempotent message to the topic
 *			walbridge-test.ready: a broker just started answers the first
 *			producer ID request with COORDINATOR_LOAD_IN_PROGRESS (it asks
 *			its controller for a block of IDs then), which librdkafka logs
 *			as a warning; once this returns, the next producer gets one
 *		Admin BOOTSTRAP describe TOPIC
 *			"partitions N", "replication.factor N", then "config KEY=VALUE"
 *			for each config set on the topic itself, sorted
 *		Admin BOOTSTRAP offsets TOPIC
 *			"LOG_START END" of partition 0: the first offset still kept
 *			(retention moves it) and the next offset to be written
 *
 * Exits 0 when done, 1 with the broker's error on stderr.
 *
 * IDENTIFICATION
 *		test/kafka/src/main/java/walbridge/kafka/Admin.java
 */
package walbridge.kafka;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.AdminClient;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class Admin
{
	private static final long TIMEOUT_MS = 30_000;

	private Admin()
	{
	}

	public static void main(String[] args) throws Exception
	{
		if (args.length < 2 || (args.length < 3 && !args[1].equals("ready")))
		{
			System.err.println("usage: Admin BOOTSTRAP create|ready TOPIC[:KEY=VALUE,...]... | describe TOPIC | offsets TOPIC");
			System.exit(2);
		}
		Properties props = new Properties();

		props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
		props.put(AdminClientConfig.CLIENT_ID_CONFIG, "walbridge-test-admin");
		props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) TIMEOUT_MS);
		try (AdminClient admin = AdminClient.create(props))
		{
			switch (args[1])
			{
				case "create":
					create(admin, args);
					break;
				case "ready":
					ready(admin, args[0]);
					if (args.length > 2)
						create(admin, args);
					break;
				case "describe":
					describe(admin, args[2]);
					break;
				case "offsets":
					offsets(admin, args[2]);
					break;
				default:
					System.err.println("unknown command \"" + args[1] + "\"");
					System.exit(2);
			}
		}
		catch (ExecutionException e)
		{
			System.err.println("Admin " + args[1] + ": " + e.getCause());
			System.exit(1);
		}
	}

	/* Create every topic in one request, then wait until each has a leader. */
	private static void create(AdminClient admin, String[] args) throws Exception
	{
		List<NewTopic> topics = new ArrayList<>();
		List<String> names = new ArrayList<>();

		for (int i = 2; i < args.length; i++)
		{
			String[] parts = args[i].split(":", 2);
			Map<String, String> configs = new HashMap<>();
			int partitions = 1;
			short replicas = 1;

			if (parts.length == 2 && !parts[1].isEmpty())
				for (String kv : parts[1].split(","))
				{
					String[] pair = kv.split("=", 2);

					if (pair.length != 2)
						throw new IllegalArgumentException("not KEY=VALUE: " + kv);
					if (pair[0].equals("partitions"))
						partitions = Integer.parseInt(pair[1]);
					else if (pair[0].equals("replication.factor"))
						replicas = Short.parseShort(pair[1]);
					else
						configs.put(pair[0], pair[1]);
				}
			topics.add(new NewTopic(parts[0], partitions, replicas).configs(configs));
			names.add(parts[0]);
		}
		admin.createTopics(topics).all().get();

		long deadline = System.currentTimeMillis() + TIMEOUT_MS;

		for (;;)
		{
			try
			{
				Map<String, TopicDescription> found = admin.describeTopics(names).allTopicNames().get();
				boolean ready = true;

				for (TopicDescription d : found.values())
					for (var p : d.partitions())
						ready &= p.leader() != null && !p.leader().isEmpty();
				if (ready)
					return;
			}
			catch (ExecutionException e)
			{
				if (System.currentTimeMillis() > deadline)
					throw e;
			}
			if (System.currentTimeMillis() > deadline)
				throw new IllegalStateException("topics have no leader after " + TIMEOUT_MS + " ms: " + names);
			Thread.sleep(50);
		}
	}

	/* One idempotent message, acknowledged by all replicas. */
	private static void ready(AdminClient admin, String bootstrap) throws Exception
	{
		String topic = "walbridge-test.ready";
		Properties props = new Properties();

		try
		{
			admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all().get();
		}
		catch (ExecutionException e)
		{
			if (!(e.getCause() instanceof TopicExistsException))
				throw e;
		}
		props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
		props.put(ProducerConfig.CLIENT_ID_CONFIG, "walbridge-test-ready");
		props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
		props.put(ProducerConfig.ACKS_CONFIG, "all");
		props.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
		props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, (int) TIMEOUT_MS);
		try (KafkaProducer<byte[], byte[]> producer =
			 new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer()))
		{
			producer.send(new ProducerRecord<>(topic, "ready".getBytes())).get();
		}
	}

	private static void describe(AdminClient admin, String topic) throws Exception
	{
		TopicDescription d = admin.describeTopics(Collections.singletonList(topic))
			.allTopicNames().get().get(topic);
		ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
		Config config = admin.describeConfigs(Collections.singletonList(res)).all().get().get(res);
		Map<String, String> own = new TreeMap<>();

		System.out.println("partitions " + d.partitions().size());
		System.out.println("replication.factor " + d.partitions().get(0).replicas().size());
		for (ConfigEntry e : config.entries())
			if (e.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG)
				own.put(e.name(), e.value());
		own.forEach((k, v) -> System.out.println("config " + k + "=" + v));
	}

	private static void offsets(AdminClient admin, String topic) throws Exception
	{
		TopicPartition tp = new TopicPartition(topic, 0);
		long start = admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).all().get().get(tp).offset();
		long end = admin.listOffsets(Map.of(tp, OffsetSpec.latest())).all().get().get(tp).offset();

		System.out.println(start + " " + end);
	}
}
