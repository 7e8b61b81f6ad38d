/* common.glsl - included by every shader: extensions, 16-bit storage helpers.
 * All arithmetic is fp32; f16 data is read through 16-bit storage (storageBuffer16BitAccess,
 * required by the host) and converted with unpackHalf2x16, so shaderFloat16 is not needed. */
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require
#extension GL_EXT_control_flow_attributes : enable

float h2f(uint h) { return unpackHalf2x16(h).x; }
uint  f2h(float f) { return packHalf2x16(vec2(f, 0.0)) & 0xFFFFu; }

/* workgroup size: specialization constant 0 (x) and 1 (y) */
layout(constant_id = 0) const uint BLOCK_SIZE = 64;

/* flat invocation index of a 1-D problem dispatched as a 2-D grid of 1-D workgroups (the host
 * folds more than maxComputeWorkGroupCount[0] groups into y: vk_ops.c grid_1d) */
uint flat_index() {
    return (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * BLOCK_SIZE + gl_LocalInvocationID.x;
}
