#!/usr/bin/env python3
# The database connection budget of infra/template.yaml. Every connection web and the
# worker can open must fit PostgreSQL's max_connections, with a reserve left over:
#
#   web tasks at their peak x web's DATABASE_POOL_SIZE
#   + worker environments at their peak x the worker's DATABASE_POOL_SIZE
#   + DbReservedConnections                              <= DbMaxConnections
#
#   * web's peak is WebMaxTasks (the autoscaling's maximum) times the service's
#     MaximumPercent: a deployment starts the new tasks before it stops the old ones;
#   * the worker's is WorkerMaxConcurrency (the event source mapping starts no more
#     invocations at once) times 2: after a deployment, or when Lambda replaces an
#     environment, the old environments keep their connections open until PostgreSQL
#     notices they are gone (a frozen or destroyed environment closes nothing);
#   * the reserve holds PostgreSQL's 3 superuser_reserved_connections (RDS's own
#     rdsadmin) and room for your psql.
#
# And max_connections itself must not exceed what RDS would give the instance class
# (LEAST({DBInstanceClassMemory/9531392}, 5000)): each connection is a backend process
# with memory of its own. DBInstanceClassMemory is less than the class's RAM (the OS and
# RDS's own processes take their share, and AWS publishes no figure for it), so the
# table below estimates it as 70 % of the RAM, below what is reported for 1 GiB
# classes. DbMaxConnections's default must fit every class DbInstanceClass allows (it
# applies whichever one you pick); your own value, the class you pick.
#
# The template must also wire these parameters where they act (the pools, the scaling
# maximum, the event source mapping, the parameter group), or the sum checks numbers
# nothing uses. Run by scripts/validate-deploy on the template's defaults; before a
# deployment with other values, give them as `sam deploy --parameter-overrides` takes
# them:
#   scripts/check-connection-budget.py WebMaxTasks=8 DbInstanceClass=db.t4g.small DbMaxConnections=150
import math
import os
import sys

from cfnlint.decode.cfn_yaml import load as load_template

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE = os.path.join(ROOT, "infra", "template.yaml")

GIB = 1024 ** 3
# RAM of each instance class (GiB): Amazon RDS User Guide, "Hardware specifications for
# DB instance classes". A class DbInstanceClass allows must have a row here.
CLASS_RAM_GIB = {
    "db.t4g.micro": 1,
    "db.t4g.small": 2,
    "db.t4g.medium": 4,
    "db.t4g.large": 8,
    "db.m7g.large": 8,
    "db.m7g.xlarge": 16,
    "db.r7g.large": 16,
}
# DBInstanceClassMemory as a share of the RAM: an estimate with a margin (see above).
CLASS_MEMORY_SHARE = 0.70
# PostgreSQL's superuser_reserved_connections (3 on RDS), taken out of max_connections.
SUPERUSER_RESERVED = 3
# Old Lambda environments keep their connections a while after they stop serving.
WORKER_OVERLAP = 2
BUDGET = ["WebMaxTasks", "WebMinTasks", "WebDatabasePoolSize", "WorkerMaxConcurrency",
          "WorkerDatabasePoolSize", "DbReservedConnections", "DbMaxConnections", "DbInstanceClass"]


def rds_max_connections(instance_class):
    """RDS's default max_connections for the class, with DBInstanceClassMemory estimated."""
    memory = CLASS_RAM_GIB[instance_class] * GIB * CLASS_MEMORY_SHARE
    return min(math.floor(memory / 9531392), 5000)


def allowed(param, value):
    """Why `value` is not allowed for the parameter (as CloudFormation would refuse it), or None."""
    if "AllowedValues" in param and str(value) not in [str(v) for v in param["AllowedValues"]]:
        return f"not one of {param['AllowedValues']}"
    if param.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            return "not a number"
        if "MinValue" in param and number < float(param["MinValue"]):
            return f"below its MinValue {param['MinValue']}"
        if "MaxValue" in param and number > float(param["MaxValue"]):
            return f"above its MaxValue {param['MaxValue']}"
    return None


def wiring(resources):
    """Where each parameter must act: (what, the value found there, the parameter)."""
    containers = resources["WebTaskDefinition"]["Properties"]["ContainerDefinitions"]
    web = next(c for c in containers if c["Name"] == "web")
    web_env = {e["Name"]: e.get("Value") for e in web.get("Environment", []) if isinstance(e, dict) and "Name" in e}
    worker = resources["WorkerFunction"]["Properties"]
    events = [e for e in worker.get("Events", {}).values() if e.get("Type") == "SQS"]
    scalable = next((r["Properties"] for r in resources.values()
                     if r.get("Type") == "AWS::ApplicationAutoScaling::ScalableTarget"
                     and "WebService" in str(r["Properties"].get("ResourceId"))), {})
    return [
        ("web's DATABASE_POOL_SIZE", web_env.get("DATABASE_POOL_SIZE"), "WebDatabasePoolSize"),
        ("the worker's DATABASE_POOL_SIZE", worker["Environment"]["Variables"].get("DATABASE_POOL_SIZE"),
         "WorkerDatabasePoolSize"),
        ("the web service's scalable target MaxCapacity", scalable.get("MaxCapacity"), "WebMaxTasks"),
        ("the web service's scalable target MinCapacity", scalable.get("MinCapacity"), "WebMinTasks"),
        ("the SQS event source's MaximumConcurrency",
         events[0]["Properties"].get("ScalingConfig", {}).get("MaximumConcurrency") if events else None,
         "WorkerMaxConcurrency"),
        ("the parameter group's max_connections",
         resources["DbParameterGroup"]["Properties"]["Parameters"].get("max_connections"), "DbMaxConnections"),
        ("the database's DBInstanceClass", resources["Db"]["Properties"].get("DBInstanceClass"), "DbInstanceClass"),
    ]


def demand(v, surge_percent):
    web_tasks = v["WebMaxTasks"] * surge_percent // 100
    worker_envs = v["WorkerMaxConcurrency"] * WORKER_OVERLAP
    parts = {
        "web": web_tasks * v["WebDatabasePoolSize"],
        "worker": worker_envs * v["WorkerDatabasePoolSize"],
        "reserve": v["DbReservedConnections"],
    }
    return web_tasks, worker_envs, parts, sum(parts.values())


def main(argv):
    template = load_template(TEMPLATE)
    params, resources = template["Parameters"], template["Resources"]
    overrides = {}
    for arg in " ".join(argv).split():
        name, sep, value = arg.partition("=")
        if not sep or name not in params:
            sys.exit(f"usage: {sys.argv[0]} [Parameter=value ...] ({arg!r}: not a parameter of infra/template.yaml)")
        overrides[name] = value.strip("\"'")
    problems = []

    for what, found, name in wiring(resources):
        if found != {"Ref": name}:
            problems.append(f"infra/template.yaml: {what} is {found!r}, not the parameter {name}")
    for name in BUDGET:
        if name not in params:
            problems.append(f"infra/template.yaml has no parameter {name}")
    if problems:
        return report(problems)

    raw = {name: overrides.get(name, params[name].get("Default")) for name in BUDGET}
    for name, value in raw.items():
        why = allowed(params[name], value)
        if why:
            source = "your value" if name in overrides else "its default"
            problems.append(f"{name}={value} ({source}) is {why}")
    unknown = [c for c in params["DbInstanceClass"].get("AllowedValues", []) if c not in CLASS_RAM_GIB]
    if unknown or "AllowedValues" not in params["DbInstanceClass"]:
        problems.append(f"DbInstanceClass must list its AllowedValues, each with its RAM in CLASS_RAM_GIB "
                        f"(scripts/check-connection-budget.py); missing: {unknown or 'AllowedValues'}")
    if problems:
        return report(problems)

    v = {name: (value if name == "DbInstanceClass" else int(value)) for name, value in raw.items()}
    surge = int(resources["WebService"]["Properties"].get("DeploymentConfiguration", {}).get("MaximumPercent", 200))
    web_tasks, worker_envs, parts, total = demand(v, surge)
    max_conn, instance_class = v["DbMaxConnections"], v["DbInstanceClass"]
    ceiling = rds_max_connections(instance_class)
    which = "with " + " ".join(f"{k}={overrides[k]}" for k in overrides) if overrides else "template defaults"

    print(f"connection budget ({which}):")
    print(f"  web      {v['WebMaxTasks']} tasks (WebMaxTasks) x {surge} % in a deployment = {web_tasks} "
          f"x DATABASE_POOL_SIZE {v['WebDatabasePoolSize']} (WebDatabasePoolSize) = {parts['web']}")
    print(f"  worker   {v['WorkerMaxConcurrency']} invocations (WorkerMaxConcurrency) x {WORKER_OVERLAP} "
          f"(old environments linger) = {worker_envs} x DATABASE_POOL_SIZE {v['WorkerDatabasePoolSize']} "
          f"(WorkerDatabasePoolSize) = {parts['worker']}")
    print(f"  reserve  DbReservedConnections = {parts['reserve']}")
    print(f"  total    {total}; max_connections {max_conn} (DbMaxConnections); RDS's own for {instance_class} "
          f"{ceiling} ({CLASS_MEMORY_SHARE:.0%} of its {CLASS_RAM_GIB[instance_class]} GiB as DBInstanceClassMemory)")

    if v["WebMinTasks"] > v["WebMaxTasks"]:
        problems.append(f"WebMinTasks {v['WebMinTasks']} is above WebMaxTasks {v['WebMaxTasks']}")
    if v["DbReservedConnections"] < SUPERUSER_RESERVED:
        problems.append(f"DbReservedConnections {v['DbReservedConnections']} is below PostgreSQL's "
                        f"{SUPERUSER_RESERVED} superuser_reserved_connections")
    if total > max_conn:
        problems.append(
            f"the budget is {total} connections (web {web_tasks} x {v['WebDatabasePoolSize']} = {parts['web']}, "
            f"worker {worker_envs} x {v['WorkerDatabasePoolSize']} = {parts['worker']}, reserve "
            f"{parts['reserve']}), over max_connections {max_conn} (DbMaxConnections): lower WebMaxTasks, "
            f"WorkerMaxConcurrency or a pool size, or raise DbMaxConnections (on a DbInstanceClass that "
            f"allows it)")
    if max_conn > ceiling:
        problems.append(f"DbMaxConnections {max_conn} is above {ceiling}, RDS's own max_connections for "
                        f"{instance_class} ({CLASS_RAM_GIB[instance_class]} GiB): pick a larger DbInstanceClass")
    # The default applies whichever class is picked: it must fit the smallest allowed.
    default = int(params["DbMaxConnections"]["Default"])
    smallest = min(params["DbInstanceClass"]["AllowedValues"], key=rds_max_connections)
    if default > rds_max_connections(smallest):
        problems.append(f"DbMaxConnections's default {default} is above {rds_max_connections(smallest)}, "
                        f"RDS's own max_connections for {smallest}, which DbInstanceClass allows")
    if problems:
        return report(problems)

    # How far each figure could go alone, the others as they are (infra/README.md, "Scaling").
    room = []
    for name in ["WebMaxTasks", "WebDatabasePoolSize", "WorkerMaxConcurrency", "WorkerDatabasePoolSize"]:
        best, limit = v[name], int(params[name].get("MaxValue", 10 ** 6))
        while best < limit and demand({**v, name: best + 1}, surge)[3] <= max_conn:
            best += 1
        room.append(f"{name} up to {best}")
    print(f"connection budget: {total} <= {max_conn} <= {ceiling}, {max_conn - total} to spare; "
          f"alone, each could go: {', '.join(room)}")
    return 0


def report(problems):
    for p in problems:
        print(f"  PROBLEM {p}")
    print(f"connection budget: {len(problems)} problem(s)")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
