//! End-to-end tests of the dynamodb plugin through the real host:
//! `inlet plugin exec target/plugins/dynamodb`, against `moto_server`
//! (PyPI `moto[server]`), which each test starts on a free port of 127.0.0.1
//! (`inlet_tests::moto`).
//!
//! The fixture (a Python snippet using boto3, which comes with moto) creates
//! tables with global and local secondary indexes and items of every
//! attribute type, two IAM users with access keys — `reader` (dynamodb:*)
//! and `lister` (dynamodb:ListTables only) — temporary credentials of an
//! assumed role (`session`, with a session token), and then switches moto's
//! authentication on (`/moto-api/reset-auth` 0): from then on moto checks
//! every request's SigV4 signature against the user's secret (botocore's
//! signer) and its IAM policy, so a wrong secret is refused like AWS does.

use inlet_tests::catalog::{col, column, columns, step, step_names, table, tables};
use inlet_tests::free_port;
use inlet_tests::moto::{self, AwsKeys, MotoServer};
use inlet_tests::server::{Backend, Inlet};
use inlet_tests::{ExecOutcome, exec, plugin_dir};
use serde_json::{Value, json};

const REGION: &str = "us-east-1";

/// Builds the fixture at the moto server `argv[1]`; prints the IAM keys as JSON.
const FIXTURE: &str = r#"
import json, os, sys, urllib.request
import boto3

endpoint = sys.argv[1]
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
ddb = boto3.client("dynamodb", **kw)
iam = boto3.client("iam", **kw)

ddb.create_table(
    TableName="orders",
    BillingMode="PAY_PER_REQUEST",
    KeySchema=[{"AttributeName": "customer_id", "KeyType": "HASH"}, {"AttributeName": "order_id", "KeyType": "RANGE"}],
    AttributeDefinitions=[
        {"AttributeName": "customer_id", "AttributeType": "S"},
        {"AttributeName": "order_id", "AttributeType": "N"},
        {"AttributeName": "status", "AttributeType": "S"},
        {"AttributeName": "created_at", "AttributeType": "S"},
        {"AttributeName": "total", "AttributeType": "N"},
    ],
    GlobalSecondaryIndexes=[{
        "IndexName": "by_status",
        "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}, {"AttributeName": "created_at", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["total"]},
    }],
    LocalSecondaryIndexes=[{
        "IndexName": "by_total",
        "KeySchema": [{"AttributeName": "customer_id", "KeyType": "HASH"}, {"AttributeName": "total", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "KEYS_ONLY"},
    }],
)
for i in range(1, 31):
    item = {
        "customer_id": {"S": f"cust-{i % 7:03d}"},
        "order_id": {"N": str(1000 + i)},
        "created_at": {"S": f"2024-01-{(i % 28) + 1:02d}T10:00:00Z"},
        "total": {"N": f"{i * 3}.{i:02d}"},
        "qty": {"N": str(i)},
        "paid": {"BOOL": i % 2 == 0},
        "address": {"M": {"city": {"S": "Oslo"}, "zip": {"S": f"{i:04d}"},
                          "geo": {"M": {"lat": {"N": "59.91"}, "lon": {"N": "10.75"}}}}},
        "tags": {"SS": ["new", f"t{i}"]},
        "lines": {"L": [{"M": {"sku": {"S": "a"}, "n": {"N": "1"}}}, {"S": "gift"}]},
        "receipt": {"B": b"hello world"},
    }
    if i % 3 != 0:
        item["status"] = {"S": "open" if i % 2 else "shipped"}
    if i % 5 == 0:
        item["note"] = {"NULL": True}
    if i == 7:
        item["coupon"] = {"S": "SPRING"}
    ddb.put_item(TableName="orders", Item=item)

ddb.create_table(
    TableName="users",
    BillingMode="PAY_PER_REQUEST",
    KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}, {"AttributeName": "email", "AttributeType": "S"}],
    GlobalSecondaryIndexes=[{"IndexName": "by_email", "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
                             "Projection": {"ProjectionType": "ALL"}}],
)
for i in range(5):
    ddb.put_item(TableName="users", Item={"user_id": {"S": f"u{i}"}, "email": {"S": f"u{i}@example.com"}, "age": {"N": str(20 + i)}})

ddb.create_table(
    TableName="blobs",
    BillingMode="PROVISIONED",
    ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
    KeySchema=[{"AttributeName": "digest", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "digest", "AttributeType": "B"}],
)
for i in range(int(os.environ.get("PAGED_TABLES", "0"))):
    ddb.create_table(
        TableName=f"paged_{i:03d}", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    )

policy = lambda actions: json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})
keys = {}
for user, actions in [("reader", ["dynamodb:*"]), ("lister", ["dynamodb:ListTables"])]:
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=policy(actions))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    keys[user] = {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}

# Temporary credentials: moto checks their session token exactly.
iam.create_role(RoleName="reader-role", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]}))
iam.put_role_policy(RoleName="reader-role", PolicyName="p", PolicyDocument=policy(["dynamodb:*"]))
session = boto3.client("sts", **kw).assume_role(
    RoleArn="arn:aws:iam::123456789012:role/reader-role", RoleSessionName="inlet")["Credentials"]
keys["session"] = {"access_key_id": session["AccessKeyId"], "secret_access_key": session["SecretAccessKey"],
                   "session_token": session["SessionToken"]}

# From here on moto checks every request's signature and IAM permissions.
urllib.request.urlopen(urllib.request.Request(
    endpoint + "/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"})).read()
print(json.dumps(keys))
"#;

/// A moto server with the fixture, stopped when dropped.
struct Moto {
    _server: MotoServer,
    url: String,
    keys: AwsKeys,
}

impl Moto {
    fn start(paged_tables: usize) -> Moto {
        let server = MotoServer::start();
        let keys = server.fixture(FIXTURE, &[("PAGED_TABLES", &paged_tables.to_string())]);
        Moto { url: server.url.clone(), _server: server, keys: AwsKeys(keys) }
    }

    fn config(&self, user: &str, extra: Value) -> Value {
        self.keys.config(user, json!({"region": REGION, "endpoint_url": self.url}), extra)
    }

    fn secrets(&self, user: &str) -> Value {
        self.keys.secrets(user)
    }
}

fn run(config: &Value, secrets: &Value, command: &str, extra: &[&str]) -> ExecOutcome {
    exec(&plugin_dir("dynamodb"), "dynamodb", config, Some(secrets), command, extra)
}

fn object_names(outcome: &ExecOutcome) -> Vec<&str> {
    tables(outcome, REGION).iter().filter_map(|t| t["name"].as_str()).collect()
}

#[inlet_tests::test]
fn test_signs_lists_describes_and_scans() {
    moto::require();
    let moto = Moto::start(0);
    let outcome = run(&moto.config("reader", json!({})), &moto.secrets("reader"), "test", &[]);
    assert!(outcome.success, "{outcome:?}");
    assert_eq!(outcome.json["server_version"], "DynamoDB API 2012-08-10");
    assert_eq!(step_names(&outcome), ["configure", "list tables", "describe table", "scan access"]);
    assert!(outcome.json["steps"].as_array().expect("steps").iter().all(|s| s["passed"] == true), "{}", outcome.json);
    let configure = step(&outcome, "configure")["message"].as_str().expect("message").to_owned();
    assert!(configure.starts_with(&format!("{}/, region us-east-1, key AKIA…", moto.url)), "{configure}");
    assert_eq!(step(&outcome, "list tables")["message"], "signed request accepted; first table orders");
    assert_eq!(step(&outcome, "describe table")["message"], "orders: ACTIVE, about 30 items");
    assert_eq!(step(&outcome, "scan access")["message"], "orders: read 1 item(s)");
    // A prefix that matches nothing still proves the signature.
    let none = run(&moto.config("reader", json!({"table_prefix": "nothing_"})), &moto.secrets("reader"), "test", &[]);
    assert!(none.success, "{none:?}");
    assert_eq!(step_names(&none), ["configure", "list tables"]);
    assert_eq!(step(&none, "list tables")["message"], "signed request accepted; no table named nothing_… found");
}

#[inlet_tests::test]
fn discover_describes_keys_indexes_and_sampled_attributes() {
    moto::require();
    let moto = Moto::start(0);
    let outcome = run(&moto.config("reader", json!({})), &moto.secrets("reader"), "discover", &[]);
    assert!(outcome.success, "{outcome:?}");
    assert_eq!(outcome.json["pages"], 1);
    assert_eq!(
        object_names(&outcome),
        ["orders", "orders/by_status", "orders/by_total", "users", "users/by_email", "blobs"]
    );

    let orders = table(&outcome, REGION, "orders");
    assert_eq!(orders["kind"], "table");
    assert_eq!(orders["row_estimate"], 30);
    assert_eq!(
        columns(orders),
        [
            col("customer_id", "string", "S", false),
            col("order_id", "int64", "N", false),
            col("status", "string", "S", true),
            col("created_at", "timestamp-tz", "S", false),
            col("total", "decimal", "N", false),
            col("address.city", "string", "S", false),
            col("address.geo.lat", "decimal", "N", false),
            col("address.geo.lon", "decimal", "N", false),
            col("address.zip", "string", "S", false),
            col("coupon", "string", "S", true),
            col("lines", "array", "L", false),
            col("note", "string", "NULL", true),
            col("paid", "boolean", "BOOL", false),
            col("qty", "int64", "N", false),
            col("receipt", "binary", "B", false),
            col("tags", "array", "SS", false),
        ]
    );
    let ordinals: Vec<u64> =
        orders["columns"].as_array().expect("columns").iter().filter_map(|c| c["ordinal"].as_u64()).collect();
    assert_eq!(ordinals, (1..=16).collect::<Vec<u64>>());
    assert_eq!(column(orders, "customer_id")["comment"], "partition key; partition key of local index by_total");
    assert_eq!(column(orders, "customer_id")["max_length"], 8);
    assert_eq!(column(orders, "order_id")["comment"], "sort key");
    assert_eq!(column(orders, "status")["comment"], "partition key of global index by_status");
    assert_eq!(column(orders, "status")["max_length"], 7);
    assert_eq!(column(orders, "created_at")["comment"], "sort key of global index by_status");
    // 3.01 … 90.30: two integer digits, two decimals.
    assert_eq!(
        (column(orders, "total")["precision"].clone(), column(orders, "total")["scale"].clone()),
        (json!(4), json!(2))
    );
    assert_eq!(column(orders, "receipt")["max_length"], 11);
    assert_eq!(column(orders, "lines")["comment"], "list of S|M; at most 2 elements in the sample");
    assert_eq!(column(orders, "tags")["comment"], "string set; at most 2 elements in the sample");
    assert_eq!(column(orders, "note")["comment"], "NULL in every sampled item");
    let constraints = orders["constraints"].as_array().expect("constraints");
    assert_eq!(constraints.len(), 1, "{constraints:?}");
    assert_eq!(constraints[0]["kind"], "primary_key");
    assert_eq!(constraints[0]["columns"], json!(["customer_id", "order_id"]));
    let comment = orders["comment"].as_str().expect("comment");
    for part in [
        "DynamoDB table, ACTIVE",
        "key customer_id (HASH), order_id (RANGE)",
        "billing PAY_PER_REQUEST",
        "1 global secondary index (by_status)",
        "1 local secondary index (by_total)",
        "attributes from a Scan sample of 30 items of about 30, the whole table",
    ] {
        assert!(comment.contains(part), "{part:?} not in {comment}");
    }

    let by_status = table(&outcome, REGION, "orders/by_status");
    assert_eq!(by_status["kind"], "index");
    assert_eq!(
        columns(by_status),
        [
            col("status", "string", "S", false),
            col("created_at", "timestamp-tz", "S", false),
            col("customer_id", "string", "S", false),
            col("order_id", "int64", "N", false),
            col("total", "decimal", "N", false),
        ]
    );
    assert_eq!(column(by_status, "status")["comment"], "partition key of this index");
    assert_eq!(column(by_status, "customer_id")["comment"], "table partition key");
    assert!(
        by_status["comment"]
            .as_str()
            .expect("comment")
            .starts_with("global secondary index of orders; key status (HASH), created_at (RANGE); projection INCLUDE")
    );
    let by_total = table(&outcome, REGION, "orders/by_total");
    assert_eq!(
        columns(by_total),
        [
            col("customer_id", "string", "S", false),
            col("total", "decimal", "N", false),
            col("order_id", "int64", "N", false)
        ]
    );
    assert!(by_total["comment"].as_str().expect("comment").contains("projection KEYS_ONLY"));

    let users = table(&outcome, REGION, "users");
    // email is a GSI key: nullable unless every sampled item has it (all do).
    assert_eq!(
        columns(users),
        [col("user_id", "string", "S", false), col("email", "string", "S", false), col("age", "int64", "N", false)]
    );
    let by_email = table(&outcome, REGION, "users/by_email");
    let names: Vec<String> = columns(by_email).into_iter().map(|c| c.0).collect();
    assert_eq!(names, ["email", "user_id", "age"], "projection ALL");

    let blobs = table(&outcome, REGION, "blobs");
    assert_eq!(columns(blobs), [col("digest", "binary", "B", false)]);
    assert_eq!(blobs["row_estimate"], 0);
    assert!(blobs["comment"].as_str().expect("comment").contains("a Scan sample of 0 items"));
}

#[inlet_tests::test]
fn discover_pages_through_many_tables_and_splits_indexes_across_pages() {
    moto::require();
    let moto = Moto::start(45);
    let secrets = moto.secrets("reader");
    // 45 tables of one object each, four per page, found among 48.
    let paged =
        run(&moto.config("reader", json!({"table_prefix": "paged_"})), &secrets, "discover", &["--page-size", "4"]);
    assert!(paged.success, "{paged:?}");
    assert_eq!(paged.json["pages"], 12);
    let expected: Vec<String> = (0..45).map(|i| format!("paged_{i:03}")).collect();
    assert_eq!(object_names(&paged), expected);

    // Two objects per page: tables and their indexes straddle pages, nothing twice.
    let all = run(&moto.config("reader", json!({"sample_size": 5})), &secrets, "discover", &[]);
    assert!(all.success, "{all:?}");
    let small = run(&moto.config("reader", json!({"sample_size": 5})), &secrets, "discover", &["--page-size", "2"]);
    assert!(small.success, "{small:?}");
    assert_eq!(object_names(&small), object_names(&all));
    assert_eq!(object_names(&all).len(), 51);
    assert!(small.json["pages"].as_u64().expect("pages") >= 26, "{}", small.json["pages"]);
    let sampled = table(&all, REGION, "orders")["comment"].as_str().expect("comment").to_owned();
    assert!(sampled.contains("a Scan sample of 5 items of about 30;"), "{sampled}");
}

#[inlet_tests::test]
fn refused_credentials_are_auth_and_missing_permissions_are_permission() {
    moto::require();
    let moto = Moto::start(0);
    let wrong_secret =
        run(&moto.config("reader", json!({})), &json!({"secret_access_key": "not-the-secret"}), "test", &[]);
    assert!(!wrong_secret.success, "{wrong_secret:?}");
    assert_eq!(wrong_secret.error_kind(), Some("auth"), "{}", wrong_secret.json);
    assert!(wrong_secret.json["error"]["message"].as_str().expect("message").contains("SignatureDoesNotMatch"));
    assert_eq!(step_names(&wrong_secret), ["configure", "list tables"]);
    assert_eq!(step(&wrong_secret, "list tables")["passed"], false);
    assert!(!wrong_secret.json.to_string().contains("not-the-secret"));

    let unknown = json!({"region": REGION, "endpoint_url": moto.url, "access_key_id": "AKIAUNKNOWNKEY000000"});
    let unknown = run(&unknown, &moto.secrets("reader"), "test", &[]);
    assert_eq!(unknown.error_kind(), Some("auth"), "{}", unknown.json);
    assert!(unknown.json["error"]["message"].as_str().expect("message").contains("InvalidClientTokenId"));

    let lister = run(&moto.config("lister", json!({})), &moto.secrets("lister"), "test", &[]);
    assert_eq!(lister.error_kind(), Some("permission"), "{}", lister.json);
    assert_eq!(step_names(&lister), ["configure", "list tables", "describe table"]);
    assert_eq!(step(&lister, "list tables")["passed"], true);
    let discover = run(&moto.config("lister", json!({})), &moto.secrets("lister"), "discover", &[]);
    assert_eq!(discover.error_kind(), Some("permission"), "{}", discover.json);

    let wrong_discover = run(&moto.config("reader", json!({})), &json!({"secret_access_key": "x"}), "discover", &[]);
    assert_eq!(wrong_discover.error_kind(), Some("auth"), "{}", wrong_discover.json);
}

#[inlet_tests::test]
fn temporary_credentials_send_and_sign_their_session_token() {
    moto::require();
    let moto = Moto::start(0);
    let config = moto.config("session", json!({}));
    let session = moto.keys.of("session");
    let secrets = |token: Option<&str>| {
        let mut secrets = json!({"secret_access_key": session["secret_access_key"]});
        if let Some(token) = token {
            secrets["session_token"] = json!(token);
        }
        secrets
    };
    let token = session["session_token"].as_str().expect("session token");
    let outcome = run(&config, &secrets(Some(token)), "test", &[]);
    assert!(outcome.success, "{outcome:?}");
    assert!(step(&outcome, "configure")["message"].as_str().expect("message").ends_with(", session token"));
    assert!(!outcome.json.to_string().contains(token));
    let discovered = run(&config, &secrets(Some(token)), "discover", &[]);
    assert!(discovered.success, "{discovered:?}");
    assert_eq!(object_names(&discovered).len(), 6);

    let wrong = run(&config, &secrets(Some("not-the-token")), "test", &[]);
    assert_eq!(wrong.error_kind(), Some("auth"), "{}", wrong.json);
    let without = run(&config, &secrets(None), "test", &[]);
    assert_eq!(without.error_kind(), Some("auth"), "{}", without.json);
}

#[inlet_tests::test]
fn a_closed_port_is_unreachable_and_a_missing_secret_is_config() {
    let config = json!({"region": REGION, "endpoint_url": format!("http://127.0.0.1:{}", free_port()), "access_key_id": "AKIDEXAMPLE"});
    let closed = run(&config, &json!({"secret_access_key": "s"}), "test", &[]);
    assert!(!closed.success, "{closed:?}");
    assert_eq!(closed.error_kind(), Some("unreachable"), "{}", closed.json);
    assert_eq!(step(&closed, "list tables")["passed"], false);

    let missing = run(&config, &json!({}), "test", &[]);
    assert_eq!(missing.error_kind(), Some("config"), "{}", missing.json);
    assert!(missing.json["error"]["message"].as_str().expect("message").contains("secret_access_key"));
}

#[inlet_tests::test]
fn preview_through_the_api_scans_items_in_discovered_types() {
    moto::require();
    let moto = Moto::start(0);
    let (inlet, token) = Inlet::started_with_org(Backend::Sqlite, "acme");
    let api = inlet.api(&token);
    let secret = moto.secrets("reader")["secret_access_key"].clone();
    let created = api.create(&json!({
        "name": "ddb", "type": "dynamodb", "config": moto.config("reader", json!({})),
        "credentials": {"secret_access_key": secret}, "health_check_interval_s": 3600
    }));
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(api.wait_settled(&id)["status"], "active");
    let path = format!("/api/v1/data-sources/{id}/preview?schema={REGION}");

    let users = api.get(&format!("{path}&table=users&limit=10")).expect(200).json();
    let types: Vec<(&str, &str)> = users["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| (c["name"].as_str().unwrap_or(""), c["data_type"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(types, [("user_id", "string"), ("email", "string"), ("age", "int64")], "{users}");
    // Scan order is the server's: compare sorted.
    let mut rows = users["rows"].as_array().expect("rows").clone();
    rows.sort_by_key(|row| row[0].as_str().unwrap_or("").to_owned());
    let expected: Vec<Value> = (0..5).map(|i| json!([format!("u{i}"), format!("u{i}@example.com"), 20 + i])).collect();
    assert_eq!(rows, expected);

    // A subset of columns of the orders, limit 3: decimals as exact text, maps flattened.
    let orders = api.get(&format!("{path}&table=orders&columns=total,address.city,paid&limit=3")).expect(200).json();
    let rows = orders["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 3, "{orders}");
    for row in rows {
        assert!(row[0].as_str().is_some_and(|t| t.contains('.')), "total is decimal text: {row}");
        assert_eq!(row[1], "Oslo");
        assert!(row[2].is_boolean(), "{row}");
    }
    // An index, and an empty table.
    let index = api.get(&format!("{path}&table=users%2Fby_email&columns=email&limit=2")).expect(200).json();
    assert_eq!(index["rows"].as_array().map(Vec::len), Some(2), "{index}");
    let blobs = api.get(&format!("{path}&table=blobs&limit=5")).expect(200).json();
    assert_eq!(blobs["rows"], json!([]));
    api.get(&format!("{path}&table=nothing")).expect_error(422, "not_found");
}
