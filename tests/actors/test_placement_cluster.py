"""Region placement on a simulated multi-node cluster (its own Ray, in a subprocess)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio, ray
    from ray.cluster_utils import Cluster
    from partyray.actors import DirectoryConfig, PublishItem, RoomConfig, RoomDirectory, allow_all
    from partyray.partitioning import Placement, RemultPartykit, WithPlacement

    cluster = Cluster(initialize_head=True, head_node_args=dict(
        num_cpus=1, include_dashboard=False, labels={"region": "us"}))
    eu = cluster.add_node(num_cpus=1, labels={"region": "eu"})
    ap = cluster.add_node(num_cpus=1, resources={"region:ap": 1})
    ray.init(address=cluster.address, log_to_driver=False)

    def placement(channel, room):
        region = room.split(":")[1]
        return Placement(region=region, strict=True, dedicated=True)

    async def main():
        directory = RoomDirectory(
            WithPlacement(RemultPartykit(), placement),
            DirectoryConfig(namespace="placement", room=RoomConfig(check=allow_all)),
        )
        for region, node in (("eu", eu.node_id), ("ap", ap.node_id)):
            channel = f"c?roomId={region}"
            await directory.publish([PublishItem(channel, 1)])
            _, ref = directory.resolve(channel)
            handle = await directory.host(ref)
            print(region, await handle.node.remote() == node)

    asyncio.run(main())

    # Gateways run on the driver's node, whatever else the cluster has.
    from partyray.gateway import GatewayConfig, GatewayGroup
    here = ray.get_runtime_context().get_node_id()
    group = GatewayGroup.start(GatewayConfig(port=0, publish_token="t"), count=3)
    where = ray.get([
        a.__ray_call__.remote(lambda self: ray.get_runtime_context().get_node_id())
        for a in group.actors
    ])
    print("gateways", all(node == here for node in where))
    group.stop()
    ray.shutdown()
    cluster.shutdown()
    """
)


def test_strict_regions_land_on_their_nodes() -> None:
    """Rooms land on the node of their region; gateways on the driver's node."""
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["eu", "True", "ap", "True", "gateways", "True"]
