import inferrt as trt
from tests.helpers import new_network
from tests.passes.nets import compare_optimized, count, dyn_profile, linear, optimize, rand, transformer_network

ONLY = {"fuse_conv_matmul_epilogue", "fuse_horizontal_matmuls", "eliminate_dead_layers"}


def test_structure_qkv_projections_merge():
    for kv in (4, 2):
        g = optimize(transformer_network(kv_heads=kv)[1], only=ONLY)
        merged = [n for n in g.nodes if "merged" in n.name and n.kind != "constant"]
        assert len(merged) == 1, kv
        m = merged[0]
        assert {"q_matmul", "k_matmul", "v_matmul", "q_bias", "k_bias", "v_bias"} <= set(m.origin)
        slices = [n for n in g.nodes if n.kind == "slice" and n.inputs == m.outputs]
        assert sorted(n.name for n in slices) == ["k_matmul", "q_matmul", "v_matmul"]
        assert [s.attrs.shape[0] for s in sorted(slices, key=lambda s: s.attrs.start)] == [32, 8 * kv, 8 * kv]
        assert count(g, "fused_matmul") == 4   # merged qkv, out, ffn1, ffn2


def test_numerics_dynamic_batch():
    for kv in (4, 2):
        builder, net = transformer_network(kv_heads=kv)
        compare_optimized(builder, net, [{"x": rand(2, 8, 32)}, {"x": rand(3, 8, 32)}],
                          profiles=[dyn_profile("x", (1, 8, 32))], passes=sorted(ONLY))


def test_plain_matmuls_without_bias_and_different_inputs():
    builder, net = new_network()
    x = net.add_input("x", trt.float32, (-1, 6))
    z = net.add_input("z", trt.float32, (-1, 6))
    outs = [linear(net, x, 6, 3, "a", bias=False), linear(net, x, 6, 5, "b", bias=False),
            linear(net, z, 6, 4, "c", bias=False)]
    for i, o in enumerate(outs):
        o.name = f"y{i}"
        net.mark_output(o)
    g = optimize(net, only=ONLY)
    assert count(g, "matrix_multiply") == 2 and count(g, "slice") == 2
    prof = [{"x": ((1, 6), (2, 6), (3, 6)), "z": ((1, 6), (2, 6), (3, 6))}]
    compare_optimized(builder, net, [{"x": rand(3, 6), "z": rand(3, 6)}], profiles=prof, passes=sorted(ONLY))
