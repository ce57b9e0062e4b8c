import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ortMessage } from './session.ts';

describe('onnxruntime messages', () => {
  it('drop the source location and the quoted C++ assertion, keeping what the user can act on', () => {
    const raw = "Non-zero status code returned while running Reshape node. Name:'hb_reshape' Status Message: /onnxruntime_src/onnxruntime/core/providers/cpu/tensor/reshape_helper.h:91 onnxruntime::ReshapeHelper::ReshapeHelper(const onnxruntime::TensorShape&, onnxruntime::TensorShapeVector&, bool) input_shape_size == requested_shape_size was false. The input tensor cannot be reshaped to the requested shape. Input shape:{2,64,1,1}, requested shape:{1,64}\n";
    assert.equal(ortMessage(new Error(raw)), "Non-zero status code returned while running Reshape node. Name:'hb_reshape' Status Message: The input tensor cannot be reshaped to the requested shape. Input shape:{2,64,1,1}, requested shape:{1,64}");
    const plain = 'Got invalid dimensions for input: temp for the following indices index: 0 Got: 2 Expected: 1 Please fix either the inputs/outputs or the model.';
    assert.equal(ortMessage(new Error(plain)), plain, 'a message without them is kept as it is');
  });
});
